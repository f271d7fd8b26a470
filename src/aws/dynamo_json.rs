//! Item conversions: DynamoDB JSON (`{"S": "x"}`, as in Lambda stream events) and the
//! DynamoDB Streams SDK's values, both into the DynamoDB SDK's `AttributeValue`.
use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde_json::Value;

use crate::persistence::dynamodb::item::Item;

pub fn item_from_json(v: &Value) -> Option<Item> {
    let obj = v.as_object()?;
    let mut out = HashMap::with_capacity(obj.len());
    for (k, v) in obj {
        out.insert(k.clone(), value_from_json(v)?);
    }
    Some(out)
}

fn value_from_json(v: &Value) -> Option<AttributeValue> {
    let (tag, inner) = v.as_object()?.iter().next()?;
    // Base64 text in DynamoDB JSON; a byte array when serialized from serde_dynamo.
    let b64 = |s: &Value| match s {
        Value::String(t) => base64::engine::general_purpose::STANDARD.decode(t).ok().map(Blob::new),
        Value::Array(a) => a.iter().map(|x| x.as_u64().and_then(|b| u8::try_from(b).ok())).collect::<Option<Vec<u8>>>().map(Blob::new),
        _ => None,
    };
    let strings = |s: &Value| s.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect::<Vec<_>>());
    Some(match tag.as_str() {
        "S" => AttributeValue::S(inner.as_str()?.to_string()),
        "N" => AttributeValue::N(match inner {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        "B" => AttributeValue::B(b64(inner)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool()?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        "BS" => AttributeValue::Bs(inner.as_array()?.iter().filter_map(b64).collect()),
        "L" => AttributeValue::L(inner.as_array()?.iter().filter_map(value_from_json).collect()),
        "M" => AttributeValue::M(item_from_json(inner)?),
        _ => return None,
    })
}

pub fn item_from_streams(image: &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>) -> Item {
    image.iter().filter_map(|(k, v)| Some((k.clone(), from_streams(v)?))).collect()
}

fn from_streams(v: &aws_sdk_dynamodbstreams::types::AttributeValue) -> Option<AttributeValue> {
    use aws_sdk_dynamodbstreams::types::AttributeValue as S;
    Some(match v {
        S::S(s) => AttributeValue::S(s.clone()),
        S::N(n) => AttributeValue::N(n.clone()),
        S::B(b) => AttributeValue::B(Blob::new(b.as_ref().to_vec())),
        S::Bool(b) => AttributeValue::Bool(*b),
        S::Null(b) => AttributeValue::Null(*b),
        S::Ss(v) => AttributeValue::Ss(v.clone()),
        S::Ns(v) => AttributeValue::Ns(v.clone()),
        S::Bs(v) => AttributeValue::Bs(v.iter().map(|b| Blob::new(b.as_ref().to_vec())).collect()),
        S::L(v) => AttributeValue::L(v.iter().filter_map(from_streams).collect()),
        S::M(m) => AttributeValue::M(item_from_streams(m)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_event_images_convert() {
        let v = serde_json::json!({"pk": {"S": "t#Patient#1"}, "version": {"N": "2"}, "body": {"B": "e30="}, "z": {"BOOL": false}, "ids": {"SS": ["a"]}});
        let item = item_from_json(&v).unwrap();
        assert_eq!(item["pk"].as_s().unwrap(), "t#Patient#1");
        assert_eq!(item["version"].as_n().unwrap(), "2");
        assert_eq!(item["body"].as_b().unwrap().as_ref(), b"{}");
        assert_eq!(item["ids"].as_ss().unwrap(), &vec!["a".to_string()]);
    }
}
