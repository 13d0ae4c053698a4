//! Aurora DSQL authentication: the password is an IAM auth token signed with the AWS
//! default credential chain's credentials, made for each new connection (DSQL checks it
//! only when the connection opens). `admin` gets an admin token; any other role a regular
//! one.

use aws_config::{Region, SdkConfig};
use aws_sdk_dsql::auth_token::{AuthTokenGenerator, Config};

use crate::error::{Error, ErrorKind, Result};

/// The region in a `<id>.dsql.<region>.on.aws` host name.
pub(super) fn region_of(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    (labels.len() >= 5 && labels[labels.len() - 4] == "dsql")
        .then(|| labels[labels.len() - 3].to_string())
}

/// Signs a connection token for `user` on `host`.
pub(super) async fn auth_token(
    sdk: &SdkConfig,
    host: &str,
    region: &str,
    user: &str,
) -> Result<String> {
    let config = Config::builder()
        .hostname(host)
        .region(Region::new(region.to_string()))
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::Connect,
                format!("DSQL auth token for {host}: {e}"),
            )
        })?;
    let generator = AuthTokenGenerator::new(config);
    let token = if user == "admin" {
        generator.db_connect_admin_auth_token(sdk).await
    } else {
        generator.db_connect_auth_token(sdk).await
    };
    token.map(|t| t.as_str().to_string()).map_err(|e| {
        Error::new(
            ErrorKind::Connect,
            format!(
                "cannot make a DSQL auth token for {host}: {e} (credentials come from the AWS \
                     default chain: AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, instance roles)"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dsql::config::Credentials;
    use aws_smithy_async::time::StaticTimeSource;

    fn sdk() -> SdkConfig {
        SdkConfig::builder()
            .time_source(StaticTimeSource::from_secs(1_700_000_000))
            .credentials_provider(aws_sdk_dsql::config::SharedCredentialsProvider::new(
                Credentials::new(
                    "AKIDEXAMPLE",
                    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                    None,
                    None,
                    "test",
                ),
            ))
            .build()
    }

    #[test]
    fn region_from_host() {
        assert_eq!(
            region_of("abc.dsql.us-east-1.on.aws").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(region_of("db.example.com"), None);
    }

    #[tokio::test]
    async fn tokens_with_fixed_credentials_and_time() {
        let host = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws";
        let admin = auth_token(&sdk(), host, "us-east-1", "admin")
            .await
            .unwrap();
        // SigV4 of this request at 2023-11-14T22:13:20Z, checked against an independent
        // implementation of the signing algorithm.
        assert_eq!(
            admin,
            "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws/?Action=DbConnectAdmin&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Fus-east-1%2Fdsql%2Faws4_request&X-Amz-Date=20231114T221320Z\
             &X-Amz-Expires=900&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=53af033ce0631b8729a5d291dea3ba7e795e7546cd4b1004be182bc8ff776c26"
        );
        let role = auth_token(&sdk(), host, "us-east-1", "app_user")
            .await
            .unwrap();
        assert!(role.contains("Action=DbConnect&"), "{role}");
        assert!(
            role.ends_with("d5080cb464df483bc2fabe4d45e88b3e02204b17bc6b14d6cdd332254391c295"),
            "{role}"
        );
        // Same inputs, same token: nothing random in it.
        assert_eq!(
            admin,
            auth_token(&sdk(), host, "us-east-1", "admin")
                .await
                .unwrap()
        );
    }
}
