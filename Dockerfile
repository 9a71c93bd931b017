# A small image for scheduled runs: the binary only, running as a non-root user.
#   docker build -t mfa-evidence .
#   docker run --rm -v /srv/mfa-evidence:/data -e AZURE_TENANT_ID -e AZURE_CLIENT_ID \
#     -e AZURE_CLIENT_SECRET mfa-evidence collect --config /data/mfa-evidence.toml
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data evidence \
    && mkdir -p /data && chown evidence /data
COPY --from=build /src/target/release/mfa-evidence /usr/local/bin/mfa-evidence
USER evidence
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/mfa-evidence"]
