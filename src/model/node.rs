//! Reading ONNX nodes: attributes by name, and whether a node or an opset
//! belongs to the default ONNX domain (`""` or `ai.onnx`). Shape inference,
//! FLOP counting and every transform read nodes through these.

use super::onnx::{AttributeProto, ModelProto, NodeProto};

/// Whether `domain` names the default ONNX domain (`""` or `ai.onnx`).
pub fn is_default_domain_name(domain: &str) -> bool {
    matches!(domain, "" | "ai.onnx")
}

/// Whether a node is in the default ONNX domain.
pub fn is_default_domain(node: &NodeProto) -> bool {
    is_default_domain_name(node.domain())
}

/// The opset version of the default domain, 1 if the model imports none.
pub fn default_opset(proto: &ModelProto) -> i64 {
    proto
        .opset_import
        .iter()
        .find(|opset| is_default_domain_name(opset.domain()))
        .map_or(1, |opset| opset.version())
}

/// How reports and block lists name a node: its name, or `#<index>` (its
/// position in `graph.node`) when it has none, which is common in exported
/// models.
pub fn node_id(node: &NodeProto, index: usize) -> String {
    id_of(node.name(), index)
}

/// [`node_id`] from a node's name and index.
pub fn id_of(name: &str, index: usize) -> String {
    if name.is_empty() {
        format!("#{index}")
    } else {
        name.to_owned()
    }
}

/// The attribute `name` of `node`, if set.
pub fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|attr| attr.name() == name)
}

/// An integer attribute.
pub fn attr_int(node: &NodeProto, name: &str) -> Option<i64> {
    attr(node, name).and_then(|attr| attr.i)
}

/// A float attribute.
pub fn attr_float(node: &NodeProto, name: &str) -> Option<f32> {
    attr(node, name).and_then(|attr| attr.f)
}

/// A list-of-ints attribute.
pub fn attr_ints(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|attr| attr.ints.clone())
}

/// A string attribute (bytes decoded as UTF-8, lossily).
pub fn attr_string(node: &NodeProto, name: &str) -> Option<String> {
    attr(node, name)
        .and_then(|attr| attr.s.as_deref())
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::onnx::OperatorSetIdProto;

    #[test]
    fn attributes_are_found_by_name_and_domains_by_either_spelling() {
        let node = NodeProto {
            op_type: Some("Conv".to_owned()),
            attribute: vec![
                AttributeProto {
                    name: Some("group".to_owned()),
                    i: Some(4),
                    ..Default::default()
                },
                AttributeProto {
                    name: Some("alpha".to_owned()),
                    f: Some(0.5),
                    ..Default::default()
                },
                AttributeProto {
                    name: Some("pads".to_owned()),
                    ints: vec![1, 1, 1, 1],
                    ..Default::default()
                },
                AttributeProto {
                    name: Some("auto_pad".to_owned()),
                    s: Some(b"SAME_UPPER".to_vec()),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(attr_int(&node, "group"), Some(4));
        assert_eq!(attr_int(&node, "missing"), None);
        assert_eq!(attr_float(&node, "alpha"), Some(0.5));
        assert_eq!(attr_ints(&node, "pads"), Some(vec![1, 1, 1, 1]));
        assert_eq!(
            attr_string(&node, "auto_pad").as_deref(),
            Some("SAME_UPPER")
        );
        assert!(is_default_domain(&node));
        assert!(is_default_domain_name("ai.onnx"));
        assert!(!is_default_domain_name("com.microsoft"));

        let mut proto = ModelProto::default();
        assert_eq!(default_opset(&proto), 1);
        proto.opset_import = vec![
            OperatorSetIdProto {
                domain: Some("com.microsoft".to_owned()),
                version: Some(1),
            },
            OperatorSetIdProto {
                domain: Some("ai.onnx".to_owned()),
                version: Some(13),
            },
        ];
        assert_eq!(default_opset(&proto), 13);
    }
}
