//! Data files over plain HTTP (manual §8.1.1–8.1.2): `POST /files` uploads a sheet
//! (multipart: `file`, optional `name`, and `enterpriseId` for the operator), which streams to
//! disk, is checked (format, size, rows, zip bombs, malformed XML) and kept only if it
//! passes; `GET /files/{id}` downloads a ready file of the caller's enterprise, with
//! `Content-Length` and byte ranges. Both need the bearer token and a files permission.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use domain::data_file::{DataFile, DataFileCommand};
use domain::Permission;
use filejobs::inspect::inspect;
use filejobs::rows::SheetFormat;
use projections::{DataFileDoc, FileState, DATA_FILES};
use tower::ServiceExt;
use tower_http::services::ServeFile;
use uuid::Uuid;

use crate::app::App;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::files::{authenticated, FORM_OVERHEAD};
use crate::graphql::context::fetch;
use crate::state::Server;
use crate::uploads::{spool, Spooled};

/// `POST /files`: an upload into file management.
pub(crate) async fn upload(
    State(server): State<Server>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    server.app.node.metrics.http_request();
    let app = &server.app;
    let caller = match authenticated(app, &headers).and_then(|caller| {
        caller.require(Permission::FilesManage)?;
        Ok(caller)
    }) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let limit = app.files.settings().limits.max_bytes;
    let too_large = || {
        ApiError::validation(
            "file",
            format!("the file is larger than {} MiB", limit >> 20),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit + FORM_OVERHEAD as u64) {
        return too_large().into_response();
    }
    let multipart = match multipart {
        Ok(multipart) => multipart,
        Err(rejection) => {
            return ApiError::validation(
                "file",
                format!("the upload is not a valid form: {}", rejection.body_text()),
            )
            .into_response()
        }
    };
    let _receiving = match app.uploads.receive() {
        Ok(permit) => permit,
        Err(error) => return error.into_response(),
    };
    match keep_upload(app, &caller, multipart).await {
        Ok(doc) => {
            let object = upload_json(&doc);
            (
                StatusCode::CREATED,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::json!({ "file": object }).to_string(),
            )
                .into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// An upload as the answer to `POST /files` describes it.
fn upload_json(doc: &DataFileDoc) -> serde_json::Value {
    serde_json::json!({
        "id": doc.id.to_string(),
        "enterpriseId": doc.enterprise_id.to_string(),
        "name": doc.name,
        "state": "READY",
        "sizeBytes": doc.size_bytes,
        "rows": doc.rows,
        "columns": doc.columns,
        "url": format!("/files/{}", doc.id),
    })
}

/// What an upload's form carried.
#[derive(Default)]
struct UploadForm {
    name: Option<String>,
    enterprise_id: Option<String>,
    file: Option<(String, Spooled)>,
}

async fn read_form(app: &App, mut multipart: Multipart) -> Result<UploadForm, ApiError> {
    let limit = usize::try_from(app.files.settings().limits.max_bytes).unwrap_or(usize::MAX);
    let malformed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::validation(
                "file",
                format!("the file is larger than {} MiB", limit >> 20),
            )
        } else {
            ApiError::validation(
                "file",
                format!("the upload is not a valid form: {}", e.body_text()),
            )
        }
    };
    let mut form = UploadForm::default();
    let spool_dir = app.node.data_dir.join("tmp");
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        match field.name().unwrap_or_default() {
            "name" => form.name = Some(field.text().await.map_err(malformed)?),
            "enterpriseId" => form.enterprise_id = Some(field.text().await.map_err(malformed)?),
            "file" => {
                let original = field.file_name().unwrap_or_default().to_owned();
                let too_large = || {
                    ApiError::validation(
                        "file",
                        format!("the file is larger than {} MiB", limit >> 20),
                    )
                };
                let spooled = spool(&mut field, &spool_dir, limit, too_large, malformed).await?;
                form.file = Some((original, spooled));
            }
            _ => {} // unknown parts are ignored
        }
    }
    Ok(form)
}

async fn keep_upload(
    app: &App,
    caller: &Caller,
    multipart: Multipart,
) -> Result<DataFileDoc, ApiError> {
    let form = read_form(app, multipart).await?;
    let requested = form
        .enterprise_id
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            Uuid::parse_str(s.trim())
                .map_err(|_| ApiError::validation("enterpriseId", "is not a valid id"))
        })
        .transpose()?;
    let tenant = caller.tenant(requested)?;
    let (original, spooled) = form
        .file
        .filter(|(_, f)| f.size > 0)
        .ok_or_else(|| ApiError::validation("file", "is required"))?;
    let format = SheetFormat::of_name(&original).ok_or_else(|| {
        ApiError::validation("file", "only .xlsx, .xls and .csv files are accepted")
    })?;
    let name = form
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| original.clone());
    let limits = app.files.settings().limits;
    let inspected = {
        let _turn = app.uploads.convert().await?;
        let path = spooled.path().to_path_buf();
        tokio::task::spawn_blocking(move || inspect(&path, &original, limits))
            .await
            .map_err(ApiError::internal)?
            .map_err(|refused| ApiError::validation("file", refused.0))?
    };
    let id = Uuid::new_v4();
    let file = filejobs::store::relative_path(tenant, id, &format!(".{}", format.extension()));
    let target = app.node.data_dir.join(&file);
    let source = spooled.path().to_path_buf();
    {
        let target = target.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)?;
            }
            filejobs::store::make_durable(&source, &target)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    }
    drop(spooled);
    let recorded = app
        .node
        .execute::<DataFile>(
            id,
            DataFileCommand::Upload {
                enterprise_id: tenant,
                name,
                file,
                size_bytes: std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0),
                rows: inspected.rows,
                columns: inspected.columns,
                creator: crate::graphql::files::creator(app, caller),
                at: Utc::now(),
            },
            crate::graphql::meta(caller, tenant),
        )
        .await;
    if let Err(error) = recorded {
        let _ = tokio::fs::remove_file(&target).await;
        return Err(error.into());
    }
    fetch(app, caller, DATA_FILES, id)
}

/// `GET /files/{id}`: a ready file of the caller's enterprise, for `files.read`.
pub(crate) async fn download(
    State(server): State<Server>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    server.app.node.metrics.http_request();
    let app = &server.app;
    let caller = match authenticated(app, request.headers()).and_then(|caller| {
        caller.require(Permission::FilesRead)?;
        Ok(caller)
    }) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let not_found = || ApiError::NotFound("file not found".into()).into_response();
    let Ok(id) = Uuid::parse_str(&id) else {
        return not_found();
    };
    let Ok(doc) = fetch(app, &caller, DATA_FILES, id) else {
        return not_found();
    };
    let Some(file) = doc.file.filter(|_| doc.state == FileState::Ready) else {
        return ApiError::Conflict("the file is not ready".into()).into_response();
    };
    if file.split('/').any(|part| part == ".." || part.is_empty()) {
        return not_found();
    }
    let extension = file.rsplit_once('.').map(|(_, e)| e).unwrap_or("bin");
    let served = ServeFile::new(app.node.data_dir.join(&file))
        .oneshot(request)
        .await;
    let mut response = match served {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    };
    if response.status() == StatusCode::NOT_FOUND {
        return not_found();
    }
    let download_name = format!("{}.{extension}", doc.name);
    let encoded: String = download_name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}.{extension}\"; filename*=UTF-8''{encoded}",
        doc.id
    )) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}
