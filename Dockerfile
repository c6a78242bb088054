# syntax=docker/dockerfile:1
# Multi-stage build: cargo-chef caches the dependency build, the runtime image is slim and
# runs as a non-root user. Configure with DATABASE_URL and JWT_SECRET (or JWT_PUBLIC_KEY).
FROM rust:1.95-slim-bookworm AS chef
RUN cargo install cargo-chef --locked
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json
COPY . .
RUN cargo build --release --bin cs-kpi

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --create-home cskpi
COPY --from=builder /app/target/release/cs-kpi /usr/local/bin/cs-kpi
USER cskpi
WORKDIR /data
ENV DATABASE_URL="sqlite:///data/cs-kpi.db?mode=rwc" \
    RUST_LOG="info,sqlx=warn,sea_orm=warn"
EXPOSE 8080
ENTRYPOINT ["cs-kpi"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
