# syntax=docker/dockerfile:1

# Dependencies are built in their own layer (cargo-chef), so a code change rebuilds only the service itself.
FROM rust:1.95-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
# The C flags of the dependencies (the allocator's), before they are built.
COPY .cargo .cargo
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
# Also the image's archive folder (archive.url, set below), copied below owned by the user the service runs as: the
# runtime has no shell to make it.
RUN cargo build --release --locked --bin rtk-sessions \
    && mkdir -p /rootfs/var/lib/rtk-sessions/archive

# glibc and libgcc only, no shell, no package manager; runs as an unprivileged user.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
WORKDIR /app
COPY --from=builder /app/target/release/rtk-sessions /usr/local/bin/rtk-sessions
COPY config.toml /app/config.toml
COPY --from=builder --chown=65532:65532 /rootfs/var/lib/rtk-sessions /var/lib/rtk-sessions
# Archived recordings, transcripts, summaries and chats, in the image's archive folder: mount a volume here (or set
# archive.url to s3://...).
VOLUME /var/lib/rtk-sessions
USER 65532:65532
ENV RTK_SESSIONS__LOG__FORMAT=json \
    RTK_SESSIONS__ARCHIVE__URL=file:///var/lib/rtk-sessions/archive
EXPOSE 8080
# Liveness, not readiness: a database outage must not mark every replica unhealthy (and get it restarted). Load
# balancers use /readyz; see docs/OPERATIONS.md.
HEALTHCHECK --interval=10s --timeout=6s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/rtk-sessions", "healthcheck", "--live"]
ENTRYPOINT ["/usr/local/bin/rtk-sessions"]
CMD ["serve"]
