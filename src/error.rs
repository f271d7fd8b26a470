//! The service layer's one error type; it maps to an HTTP status and an OperationOutcome here.
use crate::fhir::outcome::Issue;

#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    #[error("{0}")]
    BadRequest(String),
    #[error("invalid resource")]
    Invalid(Vec<Issue>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Internal(String),
    /// 401: no valid bearer token (answered with `WWW-Authenticate: Bearer`).
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 422: the request would gather more than the server answers at once.
    #[error("{0}")]
    TooCostly(String),
}

pub type Result<T> = std::result::Result<T, FhirError>;

impl FhirError {
    pub fn status(&self) -> u16 {
        match self {
            FhirError::BadRequest(_) => 400,
            FhirError::Invalid(_) => 422,
            FhirError::NotFound(_) => 404,
            FhirError::Gone(_) => 410,
            FhirError::MethodNotAllowed(_) => 405,
            FhirError::Conflict(_) => 409,
            FhirError::PreconditionFailed(_) => 412,
            FhirError::NotAcceptable(_) => 406,
            FhirError::PayloadTooLarge(_) => 413,
            FhirError::UnsupportedMediaType(_) => 415,
            FhirError::Internal(_) => 500,
            FhirError::Unauthorized(_) => 401,
            FhirError::Forbidden(_) => 403,
            FhirError::TooCostly(_) => 422,
        }
    }

    pub fn issues(&self) -> Vec<Issue> {
        let code = match self {
            FhirError::Invalid(issues) => return issues.clone(),
            FhirError::BadRequest(_) => "invalid",
            FhirError::NotFound(_) => "not-found",
            FhirError::Gone(_) => "deleted",
            FhirError::MethodNotAllowed(_) => "not-supported",
            FhirError::Conflict(_) | FhirError::PreconditionFailed(_) => "conflict",
            FhirError::NotAcceptable(_) | FhirError::UnsupportedMediaType(_) => "not-supported",
            FhirError::PayloadTooLarge(_) | FhirError::TooCostly(_) => "too-costly",
            FhirError::Internal(_) => "exception",
            FhirError::Unauthorized(_) => "login",
            FhirError::Forbidden(_) => "forbidden",
        };
        vec![Issue::error(code, self.to_string())]
    }
}

impl From<rusqlite::Error> for FhirError {
    fn from(e: rusqlite::Error) -> Self {
        FhirError::Internal(format!("storage error: {e}"))
    }
}

impl From<std::io::Error> for FhirError {
    fn from(e: std::io::Error) -> Self {
        FhirError::Internal(format!("I/O error: {e}"))
    }
}
