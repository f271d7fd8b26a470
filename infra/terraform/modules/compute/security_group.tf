# The Lambdas' security group: no ingress (nothing connects to a Lambda), HTTPS egress only,
# to OpenSearch, the VPC endpoints and, when the VPC has a NAT gateway, the internet.

resource "aws_security_group" "lambda" {
  name        = "${var.name}-lambda"
  description = "Hearth Lambdas: HTTPS egress to OpenSearch, the VPC endpoints and (with NAT) the internet"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-lambda" })
}

resource "aws_vpc_security_group_egress_rule" "to_search" {
  security_group_id            = aws_security_group.lambda.id
  description                  = "HTTPS to the OpenSearch domain"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.search_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "to_endpoints" {
  security_group_id            = aws_security_group.lambda.id
  description                  = "HTTPS to the interface VPC endpoints (KMS, Logs, X-Ray)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.endpoints_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "to_gateway_endpoints" {
  count = length(var.gateway_prefix_list_ids)

  security_group_id = aws_security_group.lambda.id
  description       = "HTTPS to DynamoDB and S3 through their gateway endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = var.gateway_prefix_list_ids[count.index]
}

resource "aws_vpc_security_group_egress_rule" "to_internet" {
  count = var.internet_egress ? 1 : 0

  security_group_id = aws_security_group.lambda.id
  description       = "HTTPS to the internet through the NAT gateway (Cognito JWKS)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}
