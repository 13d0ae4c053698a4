//! S3 (and S3-compatible stores) through `aws-sdk-s3`: credentials from the AWS default
//! chain, an optional endpoint with path-style addressing, server-side encryption and
//! storage class as configured. Every upload carries its SHA-256 (`x-amz-checksum-sha256`),
//! so the store rejects bytes that differ from what was read; values over the multipart
//! threshold go up in parts, each with its own SHA-256, and a failed multipart upload is
//! aborted. The whole value's SHA-256 is also kept as object metadata (`sha256`), since a
//! multipart object's own checksum is a checksum of its parts.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
    StorageClass,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;

use super::{BlobStore, ObjectInfo, Upload, describe_s3, sha256, store_error};
use crate::config::{ChecksumCalculation, S3Config};
use crate::error::{Error, Result};

pub(crate) struct S3Store {
    client: Client,
    bucket: String,
    described: String,
    sse: Option<ServerSideEncryption>,
    kms_key_id: Option<String>,
    storage_class: Option<StorageClass>,
    multipart_threshold: usize,
    part_size: usize,
}

/// Whether an SDK error is worth retrying, and its message (which never holds credentials:
/// the SDK does not print them).
fn classify<E, R>(e: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    match e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or_default();
            matches!(
                code,
                "SlowDown"
                    | "InternalError"
                    | "ServiceUnavailable"
                    | "RequestTimeout"
                    | "Throttling"
            )
        }
        // Could not connect, timed out, or the response was cut: a retry can help.
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            true
        }
        _ => false,
    }
}

impl S3Store {
    pub async fn new(
        bucket: String,
        config: &S3Config,
        multipart_threshold_mib: u64,
    ) -> Result<S3Store> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let shared = loader.load().await;
        if shared.region().is_none() {
            return Err(Error::config(
                "blobs.s3.region is not set and the environment names no AWS region \
                 (AWS_REGION)",
            ));
        }
        let mut b = aws_sdk_s3::config::Builder::from(&shared)
            // One retry policy for the whole engine (`retry`): the SDK tries once.
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(10))
                    .build(),
            );
        if let Some(endpoint) = &config.endpoint {
            b = b
                .endpoint_url(endpoint)
                .force_path_style(config.path_style.unwrap_or(true));
        } else if let Some(path_style) = config.path_style {
            b = b.force_path_style(path_style);
        }
        let (request, response) = match config.checksum {
            ChecksumCalculation::Default => (
                RequestChecksumCalculation::WhenSupported,
                ResponseChecksumValidation::WhenSupported,
            ),
            ChecksumCalculation::WhenRequired => (
                RequestChecksumCalculation::WhenRequired,
                ResponseChecksumValidation::WhenRequired,
            ),
        };
        b = b
            .request_checksum_calculation(request)
            .response_checksum_validation(response);
        let sse = match config.sse.as_deref() {
            None => None,
            Some("AES256") => Some(ServerSideEncryption::Aes256),
            Some("aws:kms") => Some(ServerSideEncryption::AwsKms),
            Some(other) => {
                return Err(Error::config(format!(
                    "blobs.s3.sse {other:?}: expected \"AES256\" or \"aws:kms\""
                )));
            }
        };
        if config.kms_key_id.is_some() && sse != Some(ServerSideEncryption::AwsKms) {
            return Err(Error::config(
                "blobs.s3.kms_key_id needs blobs.s3.sse = \"aws:kms\"",
            ));
        }
        if let Some(sc) = &config.storage_class
            && !StorageClass::values().contains(&sc.as_str())
        {
            return Err(Error::config(format!(
                "blobs.s3.storage_class {sc:?} is not an S3 storage class ({})",
                StorageClass::values().join(", ")
            )));
        }
        let storage_class = config.storage_class.as_deref().map(StorageClass::from);
        let threshold = (multipart_threshold_mib.max(5) * 1024 * 1024) as usize;
        Ok(S3Store {
            client: Client::from_conf(b.build()),
            described: describe_s3(&bucket, config),
            bucket,
            sse,
            kms_key_id: config.kms_key_id.clone(),
            storage_class,
            multipart_threshold: threshold,
            part_size: threshold,
        })
    }

    fn fail<E, R>(&self, what: &str, key: &str, e: &SdkError<E, R>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        store_error(
            format!(
                "{what} {key} in {}: {}",
                self.described,
                DisplayErrorContext(e)
            ),
            classify(e),
        )
    }

    async fn put_single(&self, u: &Upload<'_>, hex: &str) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(u.key)
            .body(ByteStream::from(u.data.clone()))
            .content_length(u.data.len() as i64)
            .checksum_sha256(B64.encode(u.sha256))
            .metadata("sha256", hex)
            .set_content_type(u.content_type.map(str::to_string))
            .set_server_side_encryption(self.sse.clone())
            .set_ssekms_key_id(self.kms_key_id.clone())
            .set_storage_class(self.storage_class.clone())
            .send()
            .await
            .map_err(|e| self.fail("uploading", u.key, &e))?;
        Ok(())
    }

    async fn put_multipart(&self, u: &Upload<'_>, hex: &str) -> Result<()> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(u.key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .metadata("sha256", hex)
            .set_content_type(u.content_type.map(str::to_string))
            .set_server_side_encryption(self.sse.clone())
            .set_ssekms_key_id(self.kms_key_id.clone())
            .set_storage_class(self.storage_class.clone())
            .send()
            .await
            .map_err(|e| self.fail("starting the upload of", u.key, &e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| store_error(format!("{}: no upload id", self.described), true))?
            .to_string();
        let parts = async {
            let mut parts = Vec::new();
            let mut offset = 0;
            let mut number = 1;
            while offset < u.data.len() {
                let end = (offset + self.part_size).min(u.data.len());
                let body = u.data.slice(offset..end);
                let checksum = B64.encode(sha256(&body));
                let out = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(u.key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .content_length(body.len() as i64)
                    .checksum_sha256(&checksum)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .map_err(|e| self.fail(&format!("uploading part {number} of"), u.key, &e))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag().map(str::to_string))
                        .checksum_sha256(checksum)
                        .build(),
                );
                offset = end;
                number += 1;
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(u.key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| self.fail("completing the upload of", u.key, &e))?;
            Ok::<_, Error>(())
        }
        .await;
        if parts.is_err() {
            // Leave no parts behind (they cost storage): a few tries, then give up quietly,
            // as the store may be gone (a bucket lifecycle rule cleans up what is left).
            let _ = crate::retry::retrying(
                crate::retry::RetryPolicy {
                    attempts: 3,
                    ..Default::default()
                },
                &format!("aborting the upload of {}", u.key),
                None,
                || async {
                    self.client
                        .abort_multipart_upload()
                        .bucket(&self.bucket)
                        .key(u.key)
                        .upload_id(&upload_id)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| self.fail("aborting the upload of", u.key, &e))
                },
            )
            .await;
        }
        parts
    }
}

/// A 32-byte SHA-256 from S3's base64 form; `None` for a checksum of parts (`...-3`).
fn decode_sha256(b64: &str) -> Option<[u8; 32]> {
    B64.decode(b64).ok()?.try_into().ok()
}

#[async_trait::async_trait]
impl BlobStore for S3Store {
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectInfo {
                size: out.content_length().unwrap_or(0).max(0) as u64,
                sha256: out.checksum_sha256().and_then(decode_sha256),
                recorded_sha256: out
                    .metadata()
                    .and_then(|m| m.get("sha256"))
                    .and_then(|h| hex::decode(h).ok())
                    .and_then(|v| v.try_into().ok()),
            })),
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() => Ok(None),
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 404 => Ok(None),
            Err(e) => Err(self.fail("looking up", key, &e)),
        }
    }

    async fn put(&self, upload: Upload<'_>) -> Result<()> {
        let hex = hex::encode(upload.sha256);
        if upload.data.len() > self.multipart_threshold {
            self.put_multipart(&upload, &hex).await
        } else {
            self.put_single(&upload, &hex).await
        }
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.fail("reading", key, &e))?;
        out.body
            .collect()
            .await
            .map(|b| b.into_bytes())
            .map_err(|e| store_error(format!("reading {key} in {}: {e}", self.described), true))
    }
}
