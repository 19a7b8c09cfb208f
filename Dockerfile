# One courtroom node. Configure with DATABASE_URL, REDIS_URL, COURTROOM_SECRET_KEY.
# Stage 1 builds the wheel; stage 2 installs only that wheel and its runtime
# dependencies, exactly what `pip install courtroom` gives a user (both console
# scripts, the server's static files). tests/packaging/test_wheel.py builds the
# same wheel from the same COPY lines and runs every console script from a clean venv.
FROM python:3.11-slim AS build
# A C compiler and the headers of OpenSSL and SQLite for the C modules (protocol/*.c,
# store/_verify_native.c); the runtime stage needs only libcrypto and libsqlite3,
# which the slim image's Python already uses.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev libssl-dev \
    libsqlite3-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY protocol ./protocol
COPY store ./store
COPY timers ./timers
COPY server ./server
COPY clients ./clients
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 COURTROOM_DATA_DIR=/data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --home /data courtroom && mkdir -p /data && chown courtroom /data
USER courtroom
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
CMD ["courtroom", "serve", "--host", "0.0.0.0", "--port", "8000"]
