# The portal image: web (gunicorn), worker and beat all run from it (docker-compose.yml).
FROM node:20-bookworm-slim AS frontend
WORKDIR /app
# Tesseract reads burned-in text in the worker (uploads/dicom/pixels.py)
RUN apt-get update && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend ./frontend
RUN npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/data
WORKDIR /app
# Tesseract reads burned-in text in the worker (uploads/dicom/pixels.py)
RUN apt-get update && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml requirements.lock ./
COPY portal ./portal
COPY uploads ./uploads
COPY reports ./reports
RUN pip install --no-cache-dir -c requirements.lock .
COPY . .
COPY --from=frontend /app/static/dist ./static/dist
RUN useradd --system --uid 1000 portal && mkdir -p /data && chown portal /data
USER portal
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi", "-c", "python:portal.gunicorn_conf", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60"]
