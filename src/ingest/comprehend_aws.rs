//! Amazon Comprehend Medical's `DetectEntitiesV2` as the `EntityDetector` of
//! `comprehend::ComprehendMedicalExtractor` (feature `aws`,
//! `HEARTH_INGEST_EXTRACT=comprehend-medical`). The SDK's entities are put in the service's
//! JSON shape and mapped by `comprehend::items_from_entities`.
use aws_sdk_comprehendmedical::types::{Attribute, Entity, Trait};
use serde_json::{json, Value};

use super::comprehend::EntityDetector;
use super::IngestError;

pub struct ComprehendMedical {
    client: aws_sdk_comprehendmedical::Client,
    runtime: tokio::runtime::Handle,
}

impl ComprehendMedical {
    /// A client from the SDK configuration of the AWS adapters; `runtime` runs the calls of
    /// the (blocking) extraction stage.
    pub async fn new(runtime: tokio::runtime::Handle) -> ComprehendMedical {
        let conf = crate::aws::sdk_config().await;
        ComprehendMedical { client: aws_sdk_comprehendmedical::Client::new(&conf), runtime }
    }
}

impl EntityDetector for ComprehendMedical {
    fn detect(&self, text: &str) -> Result<Value, IngestError> {
        let call = self.client.detect_entities_v2().text(text).send();
        let out = self
            .runtime
            .block_on(call)
            .map_err(|e| IngestError::Service(format!("Comprehend Medical: {}", aws_sdk_comprehendmedical::error::DisplayErrorContext(e))))?;
        Ok(entities_json(out.entities()))
    }
}

fn traits(t: &[Trait]) -> Vec<Value> {
    t.iter().map(|t| json!({"Name": t.name().map(|n| n.as_str()), "Score": t.score()})).collect()
}

fn attribute(a: &Attribute) -> Value {
    json!({"Type": a.r#type().map(|t| t.as_str()), "Score": a.score(), "RelationshipScore": a.relationship_score(),
        "Text": a.text(), "Category": a.category().map(|c| c.as_str()), "Traits": traits(a.traits())})
}

/// The SDK's entities in the shape of the service's JSON response (`{"Entities": [...]}`).
pub fn entities_json(entities: &[Entity]) -> Value {
    let out: Vec<Value> = entities
        .iter()
        .map(|e| {
            json!({"Id": e.id(), "BeginOffset": e.begin_offset(), "EndOffset": e.end_offset(), "Score": e.score(), "Text": e.text(),
                "Category": e.category().map(|c| c.as_str()), "Type": e.r#type().map(|t| t.as_str()),
                "Traits": traits(e.traits()), "Attributes": e.attributes().iter().map(attribute).collect::<Vec<_>>()})
        })
        .collect();
    json!({ "Entities": out })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_comprehendmedical::types::{AttributeName, EntitySubType, EntityType};

    #[test]
    fn sdk_entities_map_like_a_recorded_response() {
        let dose = Attribute::builder().r#type(EntitySubType::Dosage).score(0.9).relationship_score(0.5).text("500 mg").build();
        let med = Entity::builder().category(EntityType::Medication).r#type(EntitySubType::GenericName).score(0.99).text("Metformin").attributes(dose).build();
        let negated = Entity::builder()
            .category(EntityType::MedicalCondition)
            .r#type(EntitySubType::DxName)
            .score(0.9)
            .text("fever")
            .traits(Trait::builder().name(AttributeName::Negation).score(0.97).build())
            .build();
        let v = entities_json(&[med, negated]);
        assert_eq!(v["Entities"][0]["Category"], "MEDICATION");
        assert_eq!(v["Entities"][0]["Type"], "GENERIC_NAME");
        assert_eq!(v["Entities"][1]["Traits"][0]["Name"], "NEGATION");
        let items = super::super::comprehend::items_from_entities(&v, 1);
        assert_eq!(items.len(), 1, "the negated condition is left out");
        assert_eq!(items[0].get("dose").map(|d| d.value.as_str()), Some("500 mg"));
        assert!((items[0].get("dose").map(|d| d.confidence).unwrap_or(0.0) - 0.45).abs() < 1e-4);
    }
}
