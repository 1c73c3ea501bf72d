# One image for every Suitehealth process: the web server (the default command below), the Celery
# worker and beat, and the one-shot migration job. docker-compose.yml chooses the command.
FROM python:3.11-slim

# PYTHONPATH: the code runs from /app rather than from the copy `pip install .` puts in
# site-packages, because templates/ and static/ sit beside the packages, not inside them, and the
# settings find them relative to dashboard/. The install still brings every dependency.
# SUITEHEALTH_VAR_DIR is writable by the app user (beat's schedule file lives under it; so does the
# SQLite file if the image is run without DATABASE_URL). STATIC_ROOT is filled once, at build time.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    SUITEHEALTH_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

# Pango and fonts for WeasyPrint (the PDF reports); Chromium for kaleido, which draws the reports'
# charts as SVG (without it the PDFs are made with a note in place of the charts).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core chromium \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home suitehealth

WORKDIR /app
COPY . .

# Static files are collected into the image, so every container serves the same files and none needs
# a writable or shared static volume. The code stays owned by root: the app user can only write var/.
# var/beat is created here so the named volume mounted on it starts out owned by the app user.
RUN pip install . \
    && rm -rf build ./*.egg-info \
    && python manage.py collectstatic --noinput \
    && mkdir -p /app/var/beat \
    && chown -R suitehealth:suitehealth /app/var

USER suitehealth
EXPOSE 8000

# No HEALTHCHECK here: the worker and beat run from this image too and serve no HTTP; the web
# service's check is in docker-compose.yml.
# --timeout 120: an upload of up to SUITEHEALTH_MAX_UPLOAD_BYTES over a slow CI link keeps a sync
# worker busy reading the body far longer than gunicorn's default 30 s.
CMD ["gunicorn", "dashboard.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120", "--access-logfile", "-"]
