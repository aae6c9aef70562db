mod binary;
mod helpers;
mod pagination;
mod readiness;
mod sessions_api;
mod signature_keys;
mod webhook;
