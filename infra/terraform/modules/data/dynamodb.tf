# The resource store. One item per resource version plus one "current" item:
#   pk = "<tenant>#<type>#<id>"           (S)
#   sk = "v#<zero-padded version>" | "current" (S)
# GSIs: by_type   (tenant_type = "<tenant>#<type>", last_updated) for type history and system
#                  history within a tenant,
#       by_tenant (tenant, last_updated) for system history across types.
# The stream (new and old images) feeds the streamer Lambda that keeps OpenSearch in step.
# expires_at (epoch seconds) is the TTL of transaction lock items.

resource "aws_dynamodb_table" "resources" {
  name                        = "${var.name}-resources"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  attribute {
    name = "tenant_type"
    type = "S"
  }

  attribute {
    name = "tenant"
    type = "S"
  }

  attribute {
    name = "last_updated"
    type = "S"
  }

  global_secondary_index {
    name            = "by_type"
    hash_key        = "tenant_type"
    range_key       = "last_updated"
    projection_type = "ALL"
  }

  global_secondary_index {
    name            = "by_tenant"
    hash_key        = "tenant"
    range_key       = "last_updated"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }

  tags = var.tags
}
