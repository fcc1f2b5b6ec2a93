# syntax=docker/dockerfile:1
# Redis for the local stack from images (compose.yaml, `make images-test`): Debian's redis-server on the same
# BASE as the agnews images, so a machine without a registry runs it too. The chart deploys upstream redis.
ARG BASE=docker.io/library/python:3.11.10-slim-bookworm@sha256:840e180ebcc6e5c8efab209c43f5e40fd2af98cb49db5c7103c90539c56bb30e
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends "redis-server=5:7.0.15-*" \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && groupadd --system --gid 10001 agnews \
 && useradd --system --uid 10001 --gid agnews --home-dir /tmp --shell /usr/sbin/nologin agnews \
 && install -d -o 10001 -g 10001 /data
USER 10001:10001
WORKDIR /data
EXPOSE 6379
# REDISCLI_AUTH (set beside the password) lets redis-cli authenticate; an error reply is not PONG
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["sh", "-c", "redis-cli ping | grep -q PONG"]
CMD ["redis-server", "--dir", "/data"]
