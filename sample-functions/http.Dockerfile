# A sample for fwatchdog's http mode: the sample's image (Dockerfile), with
# fwatchdog passing every request to fprocess, started once, at upstream_url.
# scripts/build-images.sh builds `faas/sample-http-echo` with it.
ARG base
FROM ${base}
ARG upstream_url=http://127.0.0.1:5000
ENV mode=http upstream_url=${upstream_url}
