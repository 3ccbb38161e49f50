//! Reading the Prometheus text format back: samples with their labels and values.

/// One sample: a metric name, its labels and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The metric name, with any `_total`, `_bucket`, `_sum` or `_count` suffix.
    pub name: String,
    /// Label pairs, in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, if the sample has it.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a text is not in the Prometheus text format.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parses an exposition in the Prometheus text format (and the OpenMetrics `# EOF` marker).
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        samples.push(sample(line).map_err(|reason| ParseError {
            line: i + 1,
            reason,
        })?);
    }
    Ok(samples)
}

fn sample(line: &str) -> Result<Sample, &'static str> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("bad metric name");
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let key_end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .ok_or("unterminated labels")?;
            let key = &rest[..key_end];
            if key.is_empty() {
                return Err("bad label name");
            }
            rest = rest[key_end..]
                .trim_start()
                .strip_prefix('=')
                .ok_or("expected `=` after a label name")?
                .trim_start()
                .strip_prefix('"')
                .ok_or("expected a quoted label value")?;
            let (value, after) = quoted(rest)?;
            labels.push((key.to_owned(), value));
            rest = after.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with('}') {
                return Err("expected `,` or `}` after a label");
            }
        }
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("missing value")?;
    let value = match value {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().map_err(|_| "bad value")?,
    };
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<i64>().map_err(|_| "bad timestamp")?;
    }
    if fields.next().is_some() {
        return Err("trailing fields");
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// A label value up to its closing quote, unescaped; and what follows the quote.
fn quoted(s: &str) -> Result<(String, &str), &'static str> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                _ => return Err("bad escape in a label value"),
            },
            c => value.push(c),
        }
    }
    Err("unterminated label value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_prometheus_client_writes() {
        let mut registry = crate::Registry::default();
        let refused = crate::CounterFamily::default();
        registry.register("refused", "refused by reason", refused.clone());
        crate::inc(&refused, "reason", "expired");
        crate::inc(&refused, "reason", "expired");
        let height = crate::Gauge::<i64>::default();
        registry.register("height", "height", height.clone());
        height.set(42);
        let samples = parse(&crate::encode(&registry)).unwrap();
        let expired = samples.iter().find(|s| s.name == "refused_total").unwrap();
        assert_eq!(expired.label("reason"), Some("expired"));
        assert_eq!(expired.value, 2.0);
        assert_eq!(
            samples.iter().find(|s| s.name == "height").unwrap().value,
            42.0
        );
    }

    #[test]
    fn labels_unescape_and_values_take_every_form() {
        let samples = parse(
            "a{k=\"x\\\"y\\\\z\\n\",j=\"\"} +Inf 17\nb -Inf\nc NaN\nd_bucket{le=\"0.5\"} 1e3\n# EOF\n",
        )
        .unwrap();
        assert_eq!(samples[0].label("k"), Some("x\"y\\z\n"));
        assert_eq!(samples[0].label("j"), Some(""));
        assert_eq!(samples[0].value, f64::INFINITY);
        assert_eq!(samples[1].value, f64::NEG_INFINITY);
        assert!(samples[2].value.is_nan());
        assert_eq!(samples[3].value, 1000.0);
    }

    #[test]
    fn malformed_lines_are_errors_with_their_line() {
        for bad in [
            "x{a=\"1\" 2",
            "x{a=1} 2",
            "x{a=\"1\\q\"} 2",
            "x",
            "x abc",
            "1x 2",
            "x 1 2 3",
            "x{=\"1\"} 2",
        ] {
            let err = parse(&format!("ok 1\n{bad}\n")).unwrap_err();
            assert_eq!(err.line, 2, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC*") {
            let _ = parse(&text);
        }

        #[test]
        fn never_panics_on_near_valid_lines(text in "[a-z_]{0,4}(\\{[a-z=\",\\\\]{0,12}\\})? ?[-+0-9.eInfNa ]{0,8}") {
            let _ = parse(&text);
        }
    }
}
