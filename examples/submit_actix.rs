//! The Submit API on actix-web, behind `vault-actix`. Routes only: the rules are vault-core's,
//! the answers `vault_examples::Submit`'s, so this server and `submit-axum` answer alike.
//!
//! `cargo run -p vault-examples --bin submit-actix -- --addr 127.0.0.1:0 --demo-keys keys.json`
//!
//! With `--callback-url URL [--callback-secret whsec_...]` every new job is announced by a
//! signed `job.created` callback (see `callback-receiver`), sent after the 201 in the
//! background. Served by `vault_examples::serve::actix_server`: the same timeouts as
//! `submit-axum`, and a request refused for its key is never sent `100 Continue` first.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{App, HttpResponse, web};
use vault_actix::{Caller, GuardOptions, RequireApiKey};
use vault_examples::serve::actix_server;
use vault_examples::submit::REALM;
use vault_examples::{
    Reply, ServerArgs, Submit, announce, create_requirement, log_to_stderr, read_requirement,
};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    log_to_stderr();

    let args = ServerArgs::from_env();
    let submit = web::Data::new(Submit::start(&args).await.map_err(std::io::Error::other)?);
    let create = RequireApiKey::new(submit.keys().clone(), create_requirement()).realm(REALM);
    let read = create.for_requirement(read_requirement());

    let app_state = submit.clone();
    let app = move || {
        App::new()
            .app_data(app_state.clone())
            .route("/health", web::get().to(health))
            .service(
                web::resource("/api/jobs")
                    .wrap(create.clone())
                    .route(web::post().to(create_job)),
            )
            .service(
                web::resource("/api/jobs/{id}")
                    .wrap(read.clone())
                    .route(web::get().to(get_job)),
            )
    };
    let listener = std::net::TcpListener::bind(args.addr)?;
    let addr = listener.local_addr()?;
    let server = actix_server(listener, args.serve, app)?;
    // The socket is already open, so the port announced is the real one.
    announce(addr);
    server.run().await
}

async fn health(submit: web::Data<Submit>) -> HttpResponse {
    respond(submit.health())
}

/// The body is read as bytes so `Submit` decides what bad JSON gets, not actix's extractor.
async fn create_job(
    Caller(caller): Caller,
    submit: web::Data<Submit>,
    body: web::Bytes,
) -> HttpResponse {
    respond(submit.create_job(&caller, &body))
}

async fn get_job(
    Caller(caller): Caller,
    submit: web::Data<Submit>,
    id: web::Path<String>,
) -> HttpResponse {
    respond(submit.get_job(&caller, &id))
}

fn respond(reply: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, reply.content_type))
        .body(reply.body)
}
