//! Signed outbound callbacks (Standard Webhooks v1). Work in progress: see issue 7.
