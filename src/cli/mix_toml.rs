//! Writes a mix as the TOML file `--mix` reads (the window's "Save mix"):
//! each entry a `[[model]]` table whose keys are the `profile` flags that
//! set its config ([`profile_flags`]), in snake_case, so the file reads
//! back (through the CLI's parser) to the same configs.

use super::reproduce::profile_flags;
use crate::mix::MixSpec;

/// Flags whose repeated `NAME=VALUE` values become one table.
const TABLE_FLAGS: [(&str, &str); 3] = [("dim", "dims"), ("shape", "shapes"), ("input", "inputs")];

/// The mix as a mix file.
pub fn to_mix_toml(spec: &MixSpec) -> String {
    let mut models = Vec::with_capacity(spec.entries.len());
    for entry in &spec.entries {
        let mut table = toml::Table::new();
        table.insert("name".to_owned(), entry.name.clone().into());
        if let Some(model) = &entry.model {
            table.insert("path".to_owned(), model.display().to_string().into());
        }
        for (flag, value) in profile_flags(&entry.config) {
            if let Some((_, key)) = TABLE_FLAGS.iter().find(|(name, _)| *name == flag) {
                let Some((name, item)) = value.as_deref().and_then(|v| v.split_once('=')) else {
                    continue;
                };
                let item = if flag == "shape" {
                    toml::Value::Array(item.split(',').map(scalar).collect())
                } else {
                    scalar(item)
                };
                if let toml::Value::Table(items) = table
                    .entry((*key).to_owned())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                {
                    items.insert(name.to_owned(), item);
                }
                continue;
            }
            let key = flag.replace('-', "_");
            let value = value.map_or(toml::Value::Boolean(true), |v| scalar(&v));
            match table.get_mut(&key) {
                // A repeated flag (`slo`): a list.
                Some(toml::Value::Array(items)) => items.push(value),
                Some(previous) => *previous = toml::Value::Array(vec![previous.clone(), value]),
                None => {
                    table.insert(key, value);
                }
            }
        }
        models.push(toml::Value::Table(table));
    }
    let mut root = toml::Table::new();
    root.insert("model".to_owned(), toml::Value::Array(models));
    format!(
        "# A mix: several models under load at once (onnx-workbench profile --mix).\n# Keys are the profile flags in snake_case.\n\n{root}"
    )
}

/// A flag value as TOML: a number when it is one, else a string.
fn scalar(text: &str) -> toml::Value {
    if let Ok(integer) = text.parse::<i64>() {
        integer.into()
    } else if let Ok(float) = text.parse::<f64>()
        && float.is_finite()
        && !text.contains(['e', 'E'])
    {
        float.into()
    } else {
        text.to_owned().into()
    }
}
