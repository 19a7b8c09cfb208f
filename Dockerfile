# One courtroom node. Configure with DATABASE_URL, REDIS_URL, COURTROOM_SECRET_KEY.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 COURTROOM_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY protocol ./protocol
COPY store ./store
COPY timers ./timers
COPY server ./server
COPY clients ./clients
RUN pip install --no-cache-dir . && useradd --system --home /data courtroom \
    && mkdir -p /data && chown courtroom /data
USER courtroom
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
CMD ["courtroom", "serve", "--host", "0.0.0.0", "--port", "8000"]
