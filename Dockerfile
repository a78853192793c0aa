# spsr as a container: the web server on PostgreSQL (SPSR_DATABASE_URL) or SQLite in /data.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core ./core
COPY locales ./locales
COPY ussd ./ussd
COPY bots ./bots
COPY registry_api ./registry_api
COPY spsr ./spsr
RUN pip install --no-cache-dir build babel \
 && python -m locales.catalogs compile \
 && python -m build --wheel --outdir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 spsr && mkdir /data && chown spsr /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER spsr
WORKDIR /data
ENV SPSR_DATABASE_URL=sqlite+aiosqlite:////data/spsr.db
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
CMD ["spsr", "serve", "--host", "0.0.0.0", "--port", "8080"]
