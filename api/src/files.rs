//! Audio over plain HTTP, where GraphQL does not fit: uploading a recording to the voice library
//! (`POST /voices`, multipart), and listening to or downloading recordings, voice-library
//! files and voicemail (`GET /recordings/{call}`, `/voices/{id}`, `/voicemails/{call}`). Each
//! checks the bearer token's permission and tenant; another enterprise's file is 404.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use calls::prompts::prepare_recording_from;
use chrono::Utc;
use domain::voice::{Voice, VoiceCommand};
use domain::Permission;
use projections::Model;
use uuid::Uuid;

use crate::app::App;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::graphql::context::call_record_of;
use crate::graphql::voices::{voice_object, VoiceStatus};
use crate::graphql::AuthState;
use crate::state::{auth_state, bearer, Server};
use crate::uploads::{spool, write_durably, Spooled};

/// Largest upload accepted (a few minutes of CD-quality stereo).
pub const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;
/// What the multipart form adds around the file, at most.
pub const FORM_OVERHEAD: usize = 64 * 1024;
/// Longest recording accepted.
pub const MAX_VOICE_SECONDS: u64 = 600;

/// The caller of a plain-HTTP request, or the error refusing it.
pub(crate) fn authenticated(app: &App, headers: &HeaderMap) -> Result<Caller, ApiError> {
    match auth_state(app, bearer(headers)) {
        AuthState::Caller(caller) => Ok(caller),
        AuthState::Invalid(error) => Err(error),
        AuthState::Anonymous => Err(ApiError::Unauthenticated(
            "log in first: no bearer token".into(),
        )),
    }
}

/// A WAV file under the data directory as a download named `name`, or 404.
async fn wav_file(app: &App, file: &str, name: &str) -> Response {
    let not_found = || ApiError::NotFound("file not found".into()).into_response();
    if file.split('/').any(|part| part == ".." || part.is_empty()) {
        return not_found();
    }
    match tokio::fs::read(app.node.data_dir.join(file)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "audio/wav".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.wav\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => not_found(),
    }
}

/// The document `id` of `model` when `caller` sees it.
fn visible<T: serde::de::DeserializeOwned>(
    app: &App,
    caller: &Caller,
    model: Model<T>,
    id: &str,
) -> Option<T> {
    let id = Uuid::parse_str(id).ok()?;
    app.node
        .models
        .of(model)
        .doc(&id.to_string())
        .filter(|doc| caller.sees(doc.tenant_id))
        .and_then(|doc| doc.decode())
}

/// A download of `model`'s document `id` for a caller holding `permission`: `file_of` names
/// the document's file (and the download's name), or `None` when it has none.
async fn download<T: serde::de::DeserializeOwned>(
    server: &Server,
    headers: &HeaderMap,
    permission: Permission,
    (model, what): (Model<T>, &str),
    id: &str,
    file_of: impl FnOnce(T) -> Option<(String, String)>,
) -> Response {
    server.app.node.metrics.http_request();
    let caller = match authenticated(&server.app, headers).and_then(|caller| {
        caller.require(permission)?;
        Ok(caller)
    }) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    match visible::<T>(&server.app, &caller, model, id).and_then(file_of) {
        Some((file, name)) => wav_file(&server.app, &file, &name).await,
        None => ApiError::NotFound(format!("{what} not found")).into_response(),
    }
}

/// `GET /recordings/{call}`: a call's recording, for `recordings.listen`.
pub(crate) async fn recording(
    State(server): State<Server>,
    Path(call): Path<String>,
    headers: HeaderMap,
) -> Response {
    server.app.node.metrics.http_request();
    let caller = match authenticated(&server.app, &headers).and_then(|caller| {
        caller.require(Permission::RecordingsListen)?;
        Ok(caller)
    }) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let record = match Uuid::parse_str(&call) {
        Ok(id) => call_record_of(&server.app, &caller, id).await.ok(),
        Err(_) => None,
    };
    match record.and_then(|r| r.recording.map(|file| (file, r.id.to_string()))) {
        Some((file, name)) => wav_file(&server.app, &file, &name).await,
        None => ApiError::NotFound("recording not found".into()).into_response(),
    }
}

/// `GET /voices/{id}`: a recording of the voice library, for `voice_library.read` (the
/// operator listens to review it).
pub(crate) async fn voice(
    State(server): State<Server>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let file_of = |v: projections::VoiceDoc| Some((v.file, v.id.to_string()));
    let model = (projections::VOICES, "recording");
    download(
        &server,
        &headers,
        Permission::VoiceLibraryRead,
        model,
        &id,
        file_of,
    )
    .await
}

/// `GET /voicemails/{call}`: a voicemail message, for `voicemail.read`.
pub(crate) async fn voicemail(
    State(server): State<Server>,
    Path(call): Path<String>,
    headers: HeaderMap,
) -> Response {
    let file_of = |m: projections::VoicemailDoc| Some((m.file, m.call_id.to_string()));
    let model = (projections::VOICEMAILS, "voicemail");
    download(
        &server,
        &headers,
        Permission::VoicemailRead,
        model,
        &call,
        file_of,
    )
    .await
}

/// What an upload carried (the file waits on disk).
#[derive(Default)]
struct UploadForm {
    name: Option<String>,
    enterprise_id: Option<String>,
    file: Option<Spooled>,
}

/// Why an upload's body was refused, for a person.
fn upload_refused(status: StatusCode, reason: &str) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::validation(
            "file",
            format!("the upload is larger than {} MiB", MAX_UPLOAD_BYTES >> 20),
        ),
        _ => ApiError::validation("file", format!("the upload is not a valid form: {reason}")),
    }
}

async fn read_form(app: &App, mut multipart: Multipart) -> Result<UploadForm, ApiError> {
    let mut form = UploadForm::default();
    let malformed =
        |e: axum::extract::multipart::MultipartError| upload_refused(e.status(), &e.body_text());
    let spool_dir = app.node.data_dir.join("tmp");
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        match field.name().unwrap_or_default() {
            "name" => form.name = Some(field.text().await.map_err(malformed)?),
            "enterpriseId" => form.enterprise_id = Some(field.text().await.map_err(malformed)?),
            "file" => {
                let too_large = || upload_refused(StatusCode::PAYLOAD_TOO_LARGE, "");
                form.file = Some(
                    spool(
                        &mut field,
                        &spool_dir,
                        MAX_UPLOAD_BYTES,
                        too_large,
                        malformed,
                    )
                    .await?,
                );
            }
            _ => {} // unknown parts are ignored
        }
    }
    Ok(form)
}

/// `POST /voices` (multipart: `name`, `file`, and `enterpriseId` for the operator): checks the
/// WAV, converts it to 8 kHz mono, keeps it and records the upload (pending review). A refused
/// upload leaves nothing behind: no file, no event.
pub(crate) async fn upload_voice(
    State(server): State<Server>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    server.app.node.metrics.http_request();
    let caller = match authenticated(&server.app, &headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    // A body declared too large is refused before it is read: a client that sent
    // `Expect: 100-continue` (curl does for large files) gets the answer without uploading.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD_BYTES + FORM_OVERHEAD) {
        return upload_refused(StatusCode::PAYLOAD_TOO_LARGE, "").into_response();
    }
    let multipart = match multipart {
        Ok(multipart) => multipart,
        Err(rejection) => {
            return upload_refused(rejection.status(), &rejection.body_text()).into_response()
        }
    };
    let _receiving = match server.app.uploads.receive() {
        Ok(permit) => permit,
        Err(error) => return error.into_response(),
    };
    match upload(&server.app, &caller, multipart).await {
        Ok(voice) => (
            StatusCode::CREATED,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "voice": voice }).to_string(),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

async fn upload(
    app: &App,
    caller: &Caller,
    multipart: Multipart,
) -> Result<serde_json::Value, ApiError> {
    caller.require(Permission::VoiceLibraryManage)?;
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
    let name = form
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::validation("name", "is required"))?;
    let spooled = form
        .file
        .filter(|f| f.size > 0)
        .ok_or_else(|| ApiError::validation("file", "is required"))?;
    let name_taken = || -> Result<bool, ApiError> {
        Ok(app
            .node
            .models
            .of(projections::VOICES)
            .of_tenant(tenant)
            .iter()
            .any(|v| v.name == name.trim()))
    };
    // Checked before the conversion too, so a duplicate costs no work.
    if name_taken()? {
        return Err(domain::voice::VoiceError::NameTaken.into());
    }
    let prepared = {
        let _turn = app.uploads.convert().await?;
        let source = spooled.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(source)
                .map_err(|e| calls::prompts::RecordingRefused(e.to_string()))?;
            prepare_recording_from(std::io::BufReader::new(file), MAX_VOICE_SECONDS)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::validation("file", e.to_string()))?
    };
    drop(spooled);
    let wav = prepared.wav;
    let size_bytes = wav.len() as u64;
    let id = Uuid::new_v4();
    let file = format!("voices/{tenant}/{id}.wav");
    let path = app.node.data_dir.join(&file);
    write_durably(&path, wav)
        .await
        .map_err(ApiError::internal)?;
    let name_taken = name_taken()?;
    let recorded = app
        .node
        .execute::<Voice>(
            id,
            VoiceCommand::Upload {
                enterprise_id: tenant,
                name,
                file,
                duration_ms: prepared.duration_ms,
                size_bytes,
                name_taken,
                at: Utc::now(),
            },
            crate::graphql::meta(caller, tenant),
        )
        .await;
    if let Err(error) = recorded {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(error.into());
    }
    let doc = visible(app, caller, projections::VOICES, &id.to_string())
        .ok_or_else(|| ApiError::NotFound("recording not found".into()))?;
    let voice = voice_object(doc);
    Ok(serde_json::json!({
        "id": voice.id.to_string(),
        "enterpriseId": voice.enterprise_id.to_string(),
        "name": voice.name,
        "status": match voice.status {
            VoiceStatus::Pending => "PENDING",
            VoiceStatus::Approved => "APPROVED",
            VoiceStatus::Rejected => "REJECTED",
        },
        "durationMs": voice.duration_ms,
        "sizeBytes": voice.size_bytes,
        "url": voice.url,
    }))
}
