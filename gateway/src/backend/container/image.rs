//! Function images on the engine: present, or pulled when a registry has
//! them.

use bollard::query_parameters::CreateImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;

use super::error::EngineError;

/// `image` with `:latest` added when it names no tag or digest, so a pull
/// never fetches every tag.
pub fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || last.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Makes sure `image` is on the engine, pulling it if it is not. An engine
/// that does not answer is that, not a missing image.
pub async fn ensure(docker: &Docker, image: &str) -> Result<(), EngineError> {
    match docker.inspect_image(image).await {
        Ok(_) => return Ok(()),
        Err(source) if !answered(&source) => {
            return Err(EngineError::Unreachable {
                action: format!("look for the image {image}"),
                source,
            })
        }
        Err(_) => {}
    }
    let options = CreateImageOptionsBuilder::default()
        .from_image(&with_tag(image))
        .build();
    let mut pull = docker.create_image(Some(options), None, None);
    while let Some(progress) = pull.next().await {
        if let Err(source) = progress {
            if !answered(&source) {
                return Err(EngineError::Unreachable {
                    action: format!("pull the image {image}"),
                    source,
                });
            }
            return Err(EngineError::NoSuchImage {
                image: image.to_string(),
                source: Some(source),
            });
        }
    }
    match docker.inspect_image(image).await {
        Ok(_) => Ok(()),
        Err(_) => Err(EngineError::NoSuchImage {
            image: image.to_string(),
            source: None,
        }),
    }
}

/// Whether the engine answered, with an error of its own, rather than not
/// at all.
fn answered(error: &bollard::errors::Error) -> bool {
    use bollard::errors::Error;
    matches!(
        error,
        Error::DockerResponseServerError { .. } | Error::DockerStreamError { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_added_only_where_none_is_named() {
        for (named, pulled) in [
            ("alpine", "alpine:latest"),
            ("alpine:3", "alpine:3"),
            ("localhost:5000/x", "localhost:5000/x:latest"),
            ("faas/sample-cat:latest", "faas/sample-cat:latest"),
            ("x@sha256:abc", "x@sha256:abc"),
        ] {
            assert_eq!(with_tag(named), pulled, "{named}");
        }
    }

    #[test]
    fn an_engine_that_does_not_answer_is_told_from_a_refusal() {
        let refused = bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message: "No such image".into(),
        };
        assert!(answered(&refused));
        assert!(!answered(&bollard::errors::Error::RequestTimeoutError));
    }
}
