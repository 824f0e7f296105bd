//! [`ResponseFuture`]: a named future with one state per step, so a request that is passed
//! through or refused allocates nothing; only the key verification is boxed (its type is the
//! verifier's own `async` block, which cannot be named).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;
use vault_core::{Principal, Rejection};

use crate::format::RejectionFormat;

type Verification = Pin<Box<dyn Future<Output = Result<Principal, Rejection>> + Send>>;

pin_project! {
    /// The response future of [`crate::RequireApiKey`].
    pub struct ResponseFuture<S, ReqBody, F>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S::Future, S, Request<ReqBody>, S::Response, F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<Fut, S, Req, Res, F> {
        // The key is being verified; `request` and the ready `inner` wait for the verdict.
        Verifying {
            verification: Verification,
            request: Option<Req>,
            inner: Option<S>,
            format: F,
        },
        // The inner service answers.
        Calling {
            #[pin]
            future: Fut,
        },
        // Refused before verification; taken on the first poll.
        Answered {
            response: Option<Res>,
        },
    }
}

impl<S, ReqBody, F> ResponseFuture<S, ReqBody, F>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn verifying(
        verification: Verification,
        request: Request<ReqBody>,
        inner: S,
        format: F,
    ) -> Self {
        Self {
            state: State::Verifying {
                verification,
                request: Some(request),
                inner: Some(inner),
                format,
            },
        }
    }

    pub(crate) fn calling(future: S::Future) -> Self {
        Self {
            state: State::Calling { future },
        }
    }

    pub(crate) fn answered(response: S::Response) -> Self {
        Self {
            state: State::Answered {
                response: Some(response),
            },
        }
    }
}

impl<S, ReqBody, ResBody, F> Future for ResponseFuture<S, ReqBody, F>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    F: RejectionFormat<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    // Polling a future after it completed is the caller's bug; the `Future` contract lets it
    // panic, as the standard library's futures do.
    #[allow(clippy::panic, clippy::expect_used)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Verifying {
                    verification,
                    request,
                    inner,
                    format,
                } => match ready!(verification.as_mut().poll(cx)) {
                    Ok(principal) => {
                        let (Some(mut request), Some(mut inner)) = (request.take(), inner.take())
                        else {
                            panic!("ResponseFuture polled after completion");
                        };
                        request.extensions_mut().insert(principal);
                        let future = inner.call(request);
                        this.state.set(State::Calling { future });
                    }
                    Err(rejection) => return Poll::Ready(Ok(format.response(&rejection))),
                },
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Answered { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}

impl<S, ReqBody, F> fmt::Debug for ResponseFuture<S, ReqBody, F>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Verifying { .. } => "Verifying",
            State::Calling { .. } => "Calling",
            State::Answered { .. } => "Answered",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
