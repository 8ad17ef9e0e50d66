"""Server-rendered pages of the Connect flow: Jinja2 (an Airflow dependency) with autoescaping on.

Why Python strings and not template files: nothing to ship as package data, nothing to build. Every value
goes through autoescaping; no template marks anything ``|safe``. No page carries JavaScript.
"""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined

_LAYOUT = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>{{ title }} · Microsoft Advertising · Airflow</title>
<style>
  :root { --fg:#1a202c; --muted:#4a5568; --line:#e2e8f0; --accent:#0067b8; --ok:#276749; --warn:#975a16;
          --bad:#9b2c2c; --bg:#f7fafc; }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg);
         background:var(--bg); }
  header { background:#fff; border-bottom:1px solid var(--line); padding:12px 24px; display:flex;
           align-items:center; gap:12px; }
  header .crumb { color:var(--muted); }
  header a { color:var(--accent); text-decoration:none; }
  main { max-width:760px; margin:24px auto; padding:0 16px; }
  .card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:20px 24px; margin-bottom:16px; }
  h1 { font-size:22px; margin:0 0 8px; }
  h2 { font-size:17px; margin:0 0 12px; }
  p.lead { color:var(--muted); margin-top:0; }
  label { display:block; font-weight:600; margin:14px 0 4px; }
  .hint { color:var(--muted); font-size:13px; margin-top:2px; }
  input[type=text], input[type=password], select { width:100%; padding:8px 10px; border:1px solid #cbd5e0;
           border-radius:6px; font:inherit; background:#fff; }
  .error-field input, .error-field select { border-color:var(--bad); }
  .field-error { color:var(--bad); font-size:13px; margin-top:4px; }
  .stored { color:var(--ok); font-size:13px; }
  code, .mono { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:13px; }
  .box { background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:8px 10px;
         word-break:break-all; }
  button, .button { display:inline-flex; align-items:center; gap:10px; background:var(--accent); color:#fff;
           border:1px solid var(--accent); border-radius:6px; padding:9px 18px; font:inherit; font-weight:600;
           line-height:1.5; cursor:pointer; text-decoration:none; }
  .button.secondary { background:#fff; color:var(--accent); border:1px solid var(--accent); }
  .ms-logo { display:inline-grid; grid-template-columns:8px 8px; gap:2px; }
  .ms-logo i { width:8px; height:8px; display:block; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); font-size:14px; }
  th { color:var(--muted); font-weight:600; }
  .banner { border-radius:8px; padding:14px 18px; margin-bottom:16px; border:1px solid; }
  .banner.ok { background:#f0fff4; border-color:#9ae6b4; color:var(--ok); }
  .banner.warn { background:#fffaf0; border-color:#fbd38d; color:var(--warn); }
  .banner.bad { background:#fff5f5; border-color:#feb2b2; color:var(--bad); }
  .banner h1 { color:inherit; }
  .row { display:flex; gap:12px; align-items:flex-start; }
  .actions { display:flex; gap:10px; align-items:center; margin-top:20px; }
  .row > div { flex:1; }
  details summary { cursor:pointer; color:var(--accent); margin-top:14px; }
  dl { display:grid; grid-template-columns:max-content 1fr; gap:6px 16px; margin:0; }
  dt { color:var(--muted); }
  dd { margin:0; }
  ul.plain { list-style:none; padding:0; margin:0; }
  ul.plain li { padding:8px 0; border-bottom:1px solid var(--line); }
</style>
</head>
<body>
<header>
  <strong>Microsoft Advertising</strong><span class="crumb">→ Connect</span>
  <span style="flex:1"></span>
  <a href="{{ airflow_home }}">Back to Airflow</a>
</header>
<main>
{% block content %}{% endblock %}
</main>
</body>
</html>
"""

_CHOOSE = """{% extends "layout" %}
{% block content %}
<div class="card">
  <h1>Connect Microsoft Advertising</h1>
  <p class="lead">Sign in with Microsoft once; Airflow stores the refresh token in the connection for you.
  Nothing to copy, nothing to paste.</p>
  {% if connections %}
  <h2>Choose a connection</h2>
  <ul class="plain">
  {% for c in connections %}
    <li><a href="{{ form_url }}?conn_id={{ c.conn_id | urlencode }}"><strong>{{ c.conn_id }}</strong></a>
      <span class="hint">client {{ c.login or "not set" }} ·
      {{ c.extra_value("environment") or "production" }} ·
      {% if c.has_refresh_token %}refresh token stored{% else %}no refresh token yet{% endif %}</span></li>
  {% endfor %}
  </ul>
  {% else %}
  <p>No Microsoft Advertising connection that you may edit exists yet.</p>
  {% endif %}
</div>
{% if may_create %}
<div class="card">
  <h2>Or create a new connection</h2>
  <form method="get" action="{{ form_url }}">
    <input type="hidden" name="new" value="1">
    <div class="row" style="align-items:flex-end">
      <div>
        <label for="conn_id">Connection ID</label>
        <input type="text" id="conn_id" name="conn_id" value="{{ suggested_id }}" required
               pattern="[A-Za-z0-9_][A-Za-z0-9_.\\-]*" maxlength="200" autocomplete="off">
      </div>
      <div style="flex:0"><button type="submit">Continue</button></div>
    </div>
    {% if error %}<div class="field-error">{{ error }}</div>{% endif %}
  </form>
</div>
{% endif %}
{% endblock %}
"""

_FORM = """{% extends "layout" %}
{% macro field_error(name) %}{% if errors.get(name) %}<div class="field-error">{{ errors[name] }}</div>{% endif %}{% endmacro %}
{% block content %}
<div class="card">
  <h1>{% if create %}New connection{% else %}Connection{% endif %} <span class="mono">{{ conn_id }}</span></h1>
  <p class="lead">Check the app details, then sign in with the Microsoft account that has access to your
  Microsoft Advertising accounts. The refresh token is written into this connection on the server and is
  never shown here.</p>
  {% if errors.get("extra") %}<div class="banner bad">{{ errors["extra"] }}</div>{% endif %}
  {% if env_override %}<div class="banner warn">{{ env_override }}</div>{% endif %}
  <form method="post" action="{{ start_url }}" autocomplete="off">
    <input type="hidden" name="conn_id" value="{{ conn_id }}">
    <input type="hidden" name="mode" value="{{ 'new' if create else 'existing' }}">
    <div class="{{ 'error-field' if errors.get('client_id') else '' }}">
      <label for="client_id">Client ID</label>
      <input type="text" id="client_id" name="client_id" value="{{ values.client_id }}" required
             placeholder="00000000-0000-0000-0000-000000000000" spellcheck="false">
      <div class="hint">Application (client) ID of your Entra ID app registration (platform “Web”).</div>
      {{ field_error("client_id") }}
    </div>
    <div class="{{ 'error-field' if errors.get('client_secret') else '' }}">
      <label for="client_secret">Client secret</label>
      <input type="password" id="client_secret" name="client_secret" value=""
             placeholder="{{ 'Stored: leave empty to keep it' if stored.client_secret else 'Secret value (not its ID)' }}"
             autocomplete="new-password">
      {% if stored.client_secret %}<div class="stored">✓ A client secret is stored.</div>{% endif %}
      <div class="hint">Needed on servers: a refresh token from a public (desktop) app only works on the
      device that obtained it.</div>
      {{ field_error("client_secret") }}
    </div>
    <div class="{{ 'error-field' if errors.get('developer_token') else '' }}">
      <label for="developer_token">Developer token</label>
      <input type="password" id="developer_token" name="developer_token" value=""
             placeholder="{{ 'Stored: leave empty to keep it' if stored.developer_token else 'From the Microsoft Advertising Developer Portal' }}"
             autocomplete="new-password">
      {% if stored.developer_token %}<div class="stored">✓ A developer token is stored.</div>{% endif %}
      <div class="hint">Sandbox uses the universal token BBD37VB98.</div>
      {{ field_error("developer_token") }}
    </div>
    <div class="row">
      <div class="{{ 'error-field' if errors.get('environment') else '' }}">
        <label for="environment">Environment</label>
        <select id="environment" name="environment">
          {% for env in ("production", "sandbox") %}
          <option value="{{ env }}" {{ 'selected' if values.environment == env else '' }}>{{ env }}</option>
          {% endfor %}
        </select>
        {{ field_error("environment") }}
      </div>
      <div class="{{ 'error-field' if errors.get('tenant') else '' }}">
        <label for="tenant">Tenant</label>
        <input type="text" id="tenant" name="tenant" value="{{ values.tenant }}" placeholder="common"
               spellcheck="false">
        {{ field_error("tenant") }}
      </div>
    </div>
    <div class="hint">Tenant: “common” for most apps; a single-tenant app needs its Directory (tenant) ID.</div>
    <details {{ 'open' if values.auth_base_url or values.api_base_url or errors.get('auth_base_url') or errors.get('api_base_url') else '' }}>
      <summary>Endpoint overrides (emulator or proxy)</summary>
      <div class="{{ 'error-field' if errors.get('auth_base_url') else '' }}">
        <label for="auth_base_url">Identity platform URL</label>
        <input type="text" id="auth_base_url" name="auth_base_url" value="{{ values.auth_base_url }}"
               placeholder="https://login.microsoftonline.com" spellcheck="false">
        {{ field_error("auth_base_url") }}
      </div>
      <div class="{{ 'error-field' if errors.get('api_base_url') else '' }}">
        <label for="api_base_url">API URL</label>
        <input type="text" id="api_base_url" name="api_base_url" value="{{ values.api_base_url }}"
               placeholder="Microsoft Advertising service hosts" spellcheck="false">
        {{ field_error("api_base_url") }}
      </div>
      <div class="hint">Leave both empty for Microsoft. Must be https unless they point at this machine.</div>
    </details>
    <label>Redirect URI</label>
    {% if redirect_uri %}
    <div class="box mono">{{ redirect_uri }}</div>
    <div class="hint">Register exactly this URI on the app (Entra ID → Authentication → platform “Web”).</div>
    {% else %}
    <div class="banner bad">{{ redirect_problem }}</div>
    {% endif %}
    <p class="actions">
      <button type="submit" {{ 'disabled' if not redirect_uri else '' }}>
        <span class="ms-logo" aria-hidden="true"><i style="background:#f25022"></i><i style="background:#7fba00"></i><i style="background:#00a4ef"></i><i style="background:#ffb900"></i></span>
        Sign in with Microsoft
      </button>
      <a class="button secondary" href="{{ choose_url }}">Cancel</a>
    </p>
  </form>
</div>
{% endblock %}
"""

_DONE = """{% extends "layout" %}
{% block content %}
{% if result.warning %}
<div class="banner warn">
  <h1>Signed in, with a problem</h1>
  <p>{{ result.warning }}</p>
</div>
{% else %}
<div class="banner ok">
  <h1>Connected</h1>
  <p>Connection <strong class="mono">{{ result.conn_id }}</strong> now holds a refresh token for
  <strong>{{ result.user_name or "the signed-in user" }}</strong>{% if result.user_id %} (user id {{ result.user_id }}){% endif %}
  with access to <strong>{{ result.account_count }}{{ "+" if result.accounts_capped else '' }}
  account{{ "" if result.account_count == 1 else "s" }}</strong>{% if result.customer_count %} in
  {{ result.customer_count }} customer{{ "" if result.customer_count == 1 else "s" }}{% endif %}.</p>
</div>
{% endif %}
<div class="card">
  <h2>Details</h2>
  <dl>
    <dt>Connection</dt><dd class="mono">{{ result.conn_id }} ({{ "created" if result.created else "updated" }})</dd>
    <dt>Environment</dt><dd>{{ result.environment }}</dd>
    {% if result.user_name or result.user_id %}<dt>Microsoft Advertising user</dt><dd>{{ result.user_name or "" }}{% if result.user_id %} · id {{ result.user_id }}{% endif %}</dd>{% endif %}
    <dt>Refresh token</dt><dd>stored in the connection (never shown); Airflow keeps it fresh on every run</dd>
  </dl>
</div>
{% if result.accounts %}
<div class="card">
  <h2>Accounts{% if result.account_count > result.accounts | length %} (first {{ result.accounts | length }} of {{ result.account_count }}{{ "+" if result.accounts_capped else '' }}){% endif %}</h2>
  <table>
    <thead><tr><th>Account id</th><th>Number</th><th>Name</th><th>Status</th></tr></thead>
    <tbody>
    {% for a in result.accounts %}
      <tr><td class="mono">{{ a.account_id }}</td><td class="mono">{{ a.number or "" }}</td><td>{{ a.name or "" }}</td><td>{{ a.status or "" }}</td></tr>
    {% endfor %}
    </tbody>
  </table>
</div>
{% endif %}
<div class="card">
  <h2>Next</h2>
  <p>Use it in a DAG: <code>MicrosoftAdsHook("{{ result.conn_id }}")</code>, or the account discovery
  operators with <code>msads_conn_id="{{ result.conn_id }}"</code>.</p>
  <p class="actions"><a class="button secondary" href="{{ connections_url }}">Open Connections</a>
     <a class="button secondary" href="{{ choose_url }}">Connect another</a></p>
</div>
{% endblock %}
"""

_PROBLEM = """{% extends "layout" %}
{% block content %}
<div class="banner bad">
  <h1>{{ title }}</h1>
  <p>{{ explanation }}</p>
</div>
<div class="card">
  <h2>How to fix it</h2>
  <p>{{ fix }}</p>
  {% if detail %}<p class="hint">Details from Microsoft: <span class="mono">{{ detail }}</span></p>{% endif %}
  <p class="actions">{% if retry_url %}<a class="button" href="{{ retry_url }}">Back to the form</a>{% endif %}
     <a class="button secondary" href="{{ choose_url }}">Start again</a></p>
</div>
{% endblock %}
"""

_ENV = Environment(
    loader=DictLoader(
        {"layout": _LAYOUT, "choose": _CHOOSE, "form": _FORM, "done": _DONE, "problem": _PROBLEM}
    ),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(name: str, **context: Any) -> str:
    """Render one page; every value is HTML-escaped by Jinja2's autoescaping."""
    return _ENV.get_template(name).render(**context)
