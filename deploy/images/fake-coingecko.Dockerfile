# The fake CoinGecko as an image, for tests that need the upstream inside a container or a pod
# (make test-images, the cluster tests). Test code only: the runtime images never carry it.
# Build context: the repository root (docker build -f deploy/images/fake-coingecko.Dockerfile .); what the
# context may hold is listed in fake-coingecko.Dockerfile.dockerignore. The fake needs only Python's
# standard library, so any image with python3 will do as the base; make test-images uses its Debian base.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm
FROM ${PYTHON_IMAGE}
ARG REVISION=unknown
LABEL org.opencontainers.image.title="crypto-rates-fake-coingecko" \
      org.opencontainers.image.description="Fake CoinGecko upstream for crypto-rates tests (not for production)" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision="${REVISION}"
COPY backend/testkit/__init__.py backend/testkit/fake_coingecko.py /opt/fake-coingecko/testkit/
COPY backend/crypto_rates/data/sample-exchange-rates.json /opt/fake-coingecko/
ENV PYTHONPATH=/opt/fake-coingecko \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10003:10003
EXPOSE 9900
# Arguments after the image name replace CMD; the last --host/--port given wins. In a pod it listens on
# every address of the pod's network namespace; with --network host, pass --host 127.0.0.1.
ENTRYPOINT ["python3", "-m", "testkit.fake_coingecko", "--fixture", "/opt/fake-coingecko/sample-exchange-rates.json"]
CMD ["--host", "0.0.0.0", "--port", "9900"]
