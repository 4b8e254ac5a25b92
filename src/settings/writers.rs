//! `load.writers`: how many batches are written at once, a number or `auto`.

use serde::Deserialize;

/// `load.writers`: a fixed count, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Writers {
    /// Adapted while the run goes (`crate::run::concurrency`).
    #[default]
    Auto,
    Fixed(usize),
}

impl<'de> Deserialize<'de> for Writers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A number in the file, a string from the environment (`ARTICLE_ETL__LOAD__WRITERS=2`).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        let invalid = |what: &str| {
            serde::de::Error::custom(format!("{what}: expected \"auto\" or a number of writers"))
        };
        match Raw::deserialize(d)? {
            Raw::Number(n) => usize::try_from(n)
                .map(Writers::Fixed)
                .map_err(|_| invalid(&n.to_string())),
            Raw::Text(t) if t.trim() == "auto" => Ok(Writers::Auto),
            Raw::Text(t) => t
                .trim()
                .parse()
                .map(Writers::Fixed)
                .map_err(|_| invalid(&format!("{t:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::LoadSettings;

    #[test]
    fn writers_are_auto_or_a_number_from_the_file_or_the_environment() {
        let parse = |json: &str| serde_json::from_str::<Writers>(json);
        assert_eq!(parse("\"auto\"").unwrap(), Writers::Auto);
        assert_eq!(parse("3").unwrap(), Writers::Fixed(3));
        // The environment gives strings.
        assert_eq!(parse("\"2\"").unwrap(), Writers::Fixed(2));
        assert!(parse("\"many\"").is_err());
        assert!(parse("-1").is_err());
        assert_eq!(LoadSettings::default().writers, Writers::Auto);
    }
}
