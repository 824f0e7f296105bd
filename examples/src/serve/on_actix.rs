//! [`actix_server`]: an actix-web `App` on actix-http's HTTP/1 service, with the request-head
//! and keep-alive deadlines, the idle watch, the `Host` rule, and `Expect: 100-continue`
//! answered as hyper does: the `100 Continue` goes out only once the app waits for body bytes
//! that have not come. actix-web's `HttpServer` sends it before any middleware runs, so a
//! request refused for its key got `100 Continue` (inviting the body) and then the refusal.
//! actix-http itself refuses an HTTP/1.1 request without `Host` or with two (400, no body).

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_http::body::{BoxBody, EitherBody, MessageBody};
use actix_http::error::PayloadError;
use actix_http::header::HOST;
use actix_http::{HttpMessage as _, HttpService, KeepAlive, Payload, Request, Response, Version};
use actix_server::{Server, ServerBuilder};
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt as _, apply_fn_factory,
    fn_factory, map_config,
};
use actix_web::dev::AppConfig;
use actix_web::rt::net::TcpStream;
use actix_web::web::Bytes;
use futures_core::Stream;
use futures_core::future::LocalBoxFuture;
use pin_project_lite::pin_project;

use super::activity::Watched;
use super::{ServeOptions, host_is_valid, host_problem};

/// How long a closing connection may take to flush its last answer (actix-web's default).
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A server for `factory`'s app on `listener`, as `HttpServer::new(factory).listen(listener)`
/// would build it, with `options` and the `Expect` handling above. Set the worker count and
/// the like on the builder, then `run()` it. The app sees actix-web's default `AppConfig`
/// (host `localhost:8080`), which matters only to `url_for` and to HTTP/1.0 requests without
/// `Host`.
///
/// ```no_run
/// # #[actix_web::main]
/// # async fn main() -> std::io::Result<()> {
/// use actix_web::{App, web};
/// use vault_examples::serve::{ServeOptions, actix_server};
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let app = || App::new().route("/", web::get().to(|| async { "ok" }));
/// actix_server(listener, ServeOptions::default(), app)?.run().await
/// # }
/// ```
pub fn actix_server<F, I, S, B>(
    listener: std::net::TcpListener,
    options: ServeOptions,
    factory: F,
) -> io::Result<ServerBuilder>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    S::Service: 'static,
    <S::Service as Service<Request>>::Future: 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    Server::build().listen("vault-http", listener, move || {
        // Two instances of the app per worker, one answering requests that expect
        // `100 Continue`, one the others; their state is shared as between workers.
        let app = || {
            map_config(factory().into_factory(), |()| AppConfig::default())
                .map_err(|error: S::Error| Response::from(error.into().error_response()))
        };
        let http = HttpService::build()
            .client_request_timeout(options.header_read_timeout)
            .keep_alive(KeepAlive::Timeout(options.header_read_timeout))
            .client_disconnect_timeout(DISCONNECT_TIMEOUT)
            .local_addr(addr)
            .expect(continue_on_read(app()))
            .h1(resume_or_call(app()));
        let idle_timeout = options.idle_timeout;
        apply_fn_factory(http, move |stream: TcpStream, connection: &_| {
            let peer = stream.peer_addr().ok();
            let (io, activity) = Watched::new(stream);
            let dispatch = Service::call(connection, (io, peer));
            async move {
                tokio::select! {
                    result = dispatch => result,
                    () = activity.idle_for(idle_timeout) => {
                        tracing::debug!("connection closed: idle for {idle_timeout:?}");
                        Ok(())
                    }
                }
            }
        })
    })
}

/// The answer the app gave before it wanted the body; actix-http sends it without
/// `100 Continue`, and closes the connection if a body was announced (the client may or may
/// not send it).
struct Answered(Response<BoxBody>);

impl From<Answered> for Response<BoxBody> {
    fn from(answered: Answered) -> Self {
        answered.0
    }
}

/// The app's answer to a request that was let on with `100 Continue`: the `Request` actix-http
/// hands on after that is a stand-in carrying this.
struct InFlight(LocalBoxFuture<'static, Response<BoxBody>>);

/// The `expect` service: runs the app on the request at once, its body watched. An answer
/// before the app waits for a body byte goes out as it is; once it waits, `100 Continue` goes
/// out and [`resume_or_call`] carries on with the same call.
fn continue_on_read<A, R, B>(
    app: A,
) -> impl ServiceFactory<
    Request,
    Config = (),
    Response = Request,
    Error = Answered,
    InitError = A::InitError,
>
where
    A: ServiceFactory<Request, Config = (), Response = R, Error = Response<BoxBody>>,
    A::Service: 'static,
    <A::Service as Service<Request>>::Future: 'static,
    R: Into<Response<B>> + 'static,
    B: MessageBody + 'static,
{
    fn_factory(move || {
        let app = app.new_service(());
        async move {
            let app = Rc::new(app.await?);
            Ok(actix_service::fn_service(move |mut request: Request| {
                let waiting = Rc::new(Cell::new(false));
                let answer: LocalBoxFuture<'static, Response<BoxBody>> = if host_allowed(&request) {
                    let body = request.take_payload();
                    *request.payload() = Payload::Stream {
                        payload: Box::pin(WatchedBody {
                            body,
                            waiting: Rc::clone(&waiting),
                        }),
                    };
                    let call = app.call(request);
                    Box::pin(async move {
                        match call.await {
                            Ok(response) => response.into().map_into_boxed_body(),
                            Err(response) => response,
                        }
                    })
                } else {
                    Box::pin(std::future::ready(host_refusal()))
                };
                UntilBodyWanted {
                    answer: Some(answer),
                    waiting,
                }
            }))
        }
    })
}

/// Whether `request` keeps the `Host` rule (missing and repeated ones never get here).
fn host_allowed(request: &Request) -> bool {
    let hosts = request.headers().get_all(HOST);
    host_is_valid(
        request.version() == Version::HTTP_11,
        hosts.map(|value| value.as_bytes()),
    )
}

fn host_refusal() -> Response<BoxBody> {
    vault_actix::problem_response(&host_problem()).into()
}

pin_project! {
    /// A request body that notes when its reader waits for bytes that have not come.
    struct WatchedBody {
        body: Payload,
        waiting: Rc<Cell<bool>>,
    }
}

impl Stream for WatchedBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let poll = Pin::new(this.body).poll_next(cx);
        if poll.is_pending() {
            this.waiting.set(true);
        }
        poll
    }
}

/// The `expect` service's future: the app's answer, or a stand-in request once the app waits
/// for the body.
struct UntilBodyWanted {
    answer: Option<LocalBoxFuture<'static, Response<BoxBody>>>,
    waiting: Rc<Cell<bool>>,
}

impl Future for UntilBodyWanted {
    type Output = Result<Request, Answered>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(answer) = self.answer.as_mut() else {
            // Polled after it ended: a bug of the caller, answered rather than panicked on.
            return Poll::Ready(Err(Answered(internal_error())));
        };
        if let Poll::Ready(response) = answer.as_mut().poll(cx) {
            self.answer = None;
            return Poll::Ready(Err(Answered(response)));
        }
        if !self.waiting.get() {
            return Poll::Pending;
        }
        let stand_in = Request::new();
        if let Some(answer) = self.answer.take() {
            stand_in.extensions_mut().insert(InFlight(answer));
        }
        Poll::Ready(Ok(stand_in))
    }
}

fn internal_error() -> Response<BoxBody> {
    vault_actix::problem_response(&vault_core::Problem::internal()).into()
}

/// The main service: carries on with a call [`continue_on_read`] began, or calls the app.
fn resume_or_call<A, R, B>(
    app: A,
) -> impl ServiceFactory<
    Request,
    Config = (),
    Response = Response<EitherBody<B>>,
    Error = Response<BoxBody>,
    InitError = A::InitError,
>
where
    A: ServiceFactory<Request, Config = (), Response = R, Error = Response<BoxBody>>,
    A::Service: 'static,
    <A::Service as Service<Request>>::Future: 'static,
    R: Into<Response<B>> + 'static,
    B: MessageBody + 'static,
{
    fn_factory(move || {
        let app = app.new_service(());
        async move {
            Ok(ResumeOrCall {
                app: app.await?,
                body: PhantomData,
            })
        }
    })
}

struct ResumeOrCall<S, B> {
    app: S,
    body: PhantomData<B>,
}

impl<S, R, B> Service<Request> for ResumeOrCall<S, B>
where
    S: Service<Request, Response = R, Error = Response<BoxBody>>,
    R: Into<Response<B>>,
    B: MessageBody,
{
    type Response = Response<EitherBody<B>>;
    type Error = Response<BoxBody>;
    type Future = Resumed<S::Future, B>;

    actix_service::forward_ready!(app);

    fn call(&self, request: Request) -> Self::Future {
        let in_flight = request.extensions_mut().remove::<InFlight>();
        if let Some(InFlight(answer)) = in_flight {
            return Resumed::InFlight {
                answer,
                body: PhantomData,
            };
        }
        if !host_allowed(&request) {
            return Resumed::Refused {
                response: Some(host_refusal()),
                body: PhantomData,
            };
        }
        Resumed::Calling {
            call: self.app.call(request),
            body: PhantomData,
        }
    }
}

pin_project! {
    #[project = ResumedProj]
    enum Resumed<F, B> {
        InFlight { answer: LocalBoxFuture<'static, Response<BoxBody>>, body: PhantomData<B> },
        Refused { response: Option<Response<BoxBody>>, body: PhantomData<B> },
        Calling { #[pin] call: F, body: PhantomData<B> },
    }
}

impl<F, R, B> Future for Resumed<F, B>
where
    F: Future<Output = Result<R, Response<BoxBody>>>,
    R: Into<Response<B>>,
{
    type Output = Result<Response<EitherBody<B>>, Response<BoxBody>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let right = |response: Response<BoxBody>| response.map_body(|_, b| EitherBody::right(b));
        match self.project() {
            ResumedProj::Calling { call, .. } => call
                .poll(cx)
                .map_ok(|response| response.into().map_body(|_, body| EitherBody::left(body))),
            ResumedProj::InFlight { answer, .. } => answer.as_mut().poll(cx).map(|r| Ok(right(r))),
            ResumedProj::Refused { response, .. } => {
                Poll::Ready(Ok(right(response.take().unwrap_or_else(internal_error))))
            }
        }
    }
}
