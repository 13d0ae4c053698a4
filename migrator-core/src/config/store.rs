//! `[blobs]` values checked when the config is read: the store URL and the object key
//! template.

use crate::error::{Error, Result};

/// A parsed store URL: `s3://bucket[/prefix]` or `file:///path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreUrl {
    S3 { bucket: String, prefix: String },
    Local { path: std::path::PathBuf },
}

impl StoreUrl {
    pub fn parse(url: &str) -> Result<StoreUrl> {
        let bad = |why: &str| Error::config(format!("blobs.store {url:?}: {why}"));
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket (expected s3://bucket/prefix)"));
            }
            Ok(StoreUrl::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            })
        } else if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad("a file:// store needs an absolute path (file:///path)"));
            }
            Ok(StoreUrl::Local {
                path: path.trim_end_matches('/').into(),
            })
        } else {
            Err(bad("expected s3://bucket/prefix or file:///path"))
        }
    }

    /// The prefix keys start with (S3: the URL's path; a directory: none).
    pub fn prefix(&self) -> &str {
        match self {
            StoreUrl::S3 { prefix, .. } => prefix,
            StoreUrl::Local { .. } => "",
        }
    }
}

/// Checks a key template: known placeholders only, and `{sha256}` present (objects are
/// content-addressed: that is what makes re-uploads safe and identical values shared).
pub(crate) fn check_template(template: &str) -> Result<()> {
    if !template.contains("{sha256}") {
        return Err(Error::config(format!(
            "blobs.key_template {template:?} must contain {{sha256}}: objects are named by content"
        )));
    }
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map(|c| open + c).ok_or_else(|| {
            Error::config(format!("blobs.key_template {template:?}: unclosed {{"))
        })?;
        let name = &rest[open + 1..close];
        if !["prefix", "schema", "table", "column", "sha256"].contains(&name) {
            return Err(Error::config(format!(
                "blobs.key_template {template:?}: unknown placeholder {{{name}}} \
                 (use {{prefix}}, {{schema}}, {{table}}, {{column}}, {{sha256}})"
            )));
        }
        rest = &rest[close + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        assert_eq!(
            StoreUrl::parse("s3://docs/app/blobs/").unwrap(),
            StoreUrl::S3 {
                bucket: "docs".into(),
                prefix: "app/blobs".into()
            }
        );
        assert_eq!(
            StoreUrl::parse("s3://docs").unwrap(),
            StoreUrl::S3 {
                bucket: "docs".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            StoreUrl::parse("file:///var/blobs/").unwrap(),
            StoreUrl::Local {
                path: "/var/blobs".into()
            }
        );
        for bad in ["s3://", "file://relative", "https://x", "docs"] {
            let e = StoreUrl::parse(bad).unwrap_err();
            assert!(e.to_string().contains("blobs.store"), "{e}");
        }
    }

    #[test]
    fn templates() {
        check_template("{prefix}/{table}/{column}/{sha256}").unwrap();
        assert!(check_template("{prefix}/{table}").is_err());
        let e = check_template("{prefix}/{tabel}/{sha256}").unwrap_err();
        assert!(e.to_string().contains("{tabel}"), "{e}");
    }
}
