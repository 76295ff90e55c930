//! The origin Lambda (`provided.al2023`): build the clients once, then serve Function URL
//! events with the same registry `tfreg serve` runs.

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;
use tfreg_origin::lambda::OriginConfig;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Lambda sends stdout/stderr to CloudWatch Logs: JSON lines, no colours.
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TFREG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .init();
    let config = OriginConfig::from_env().map_err(|message| {
        tracing::error!(error = %message, "configuration");
        Error::from(message)
    })?;
    let origin = Arc::new(config.connect().await.map_err(|message| {
        tracing::error!(error = %message, "configuration");
        Error::from(message)
    })?);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<LambdaFunctionUrlRequest>| {
            let origin = origin.clone();
            async move { Ok::<_, Error>(origin.handle(event.payload).await) }
        },
    ))
    .await
}
