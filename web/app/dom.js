// Building the page from elements (never from HTML strings), forms with
// labelled fields, and the API's field errors shown beside their fields.

import { t, has } from './i18n.js';

/** `h('p', {class: 'x'}, 'text', child)`; `on…` attributes are listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'value') el.value = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

let uid = 0;

/** A labelled field: `field('email', t('email'), {type: 'email', required: true})`.
 *  `type: 'select'` takes `options: [[value, label], …]`, `type: 'textarea'` a text area. */
export function field(name, label, attrs = {}) {
  const id = `f-${name}-${++uid}`;
  const errorId = `${id}-error`;
  const { options, hint, ...rest } = attrs;
  let control;
  const common = { id, name, 'aria-describedby': errorId, ...rest };
  if (rest.type === 'select') {
    delete common.type;
    control = h('select', common, (options || []).map(([value, text]) =>
      h('option', { value, selected: String(rest.value ?? '') === String(value) }, text)));
  } else if (rest.type === 'textarea') {
    delete common.type;
    control = h('textarea', common);
    if (rest.value) control.value = rest.value;
  } else {
    control = h('input', common);
  }
  return h('div', { class: 'field', 'data-field': name },
    h('label', { for: id }, label),
    control,
    hint ? h('small', { class: 'hint' }, hint) : null,
    h('p', { class: 'field-error', id: errorId, role: 'alert' }));
}

/** The form's values by field name (empty strings as given). */
export function values(form) {
  return Object.fromEntries(new FormData(form).entries());
}

/** Clears the errors shown on `form`. */
export function clearErrors(form) {
  for (const p of form.querySelectorAll('.field-error, .form-error')) p.textContent = '';
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
}

/** A field error's message: ours for its code when we have one, else the API's. */
function fieldMessage(error) {
  const key = `error.field.${error.code}`;
  return has(key) ? `${t(key)} (${error.message})` : error.message;
}

/** Shows an ApiError on `form`: each `errors[]` entry beside its field (the
 *  first such field takes the focus), the rest in the form's error line. */
export function showError(form, error) {
  clearErrors(form);
  const general = [];
  let focused = false;
  for (const e of error.errors || []) {
    const box = form.querySelector(`[data-field="${CSS.escape(e.field)}"]`);
    if (!box) { general.push(`${e.field}: ${e.message}`); continue; }
    box.querySelector('.field-error').textContent = fieldMessage(e);
    const control = box.querySelector('input, select, textarea');
    control.setAttribute('aria-invalid', 'true');
    if (!focused) { control.focus(); focused = true; }
  }
  if (!(error.errors || []).length || general.length) {
    general.unshift(problemMessage(error));
  }
  const line = form.querySelector('.form-error');
  if (line) line.textContent = general.join(' ');
}

/** An API error in the user's language when we know its code. */
export function problemMessage(error) {
  const key = `error.${error.code}`;
  return has(key) ? t(key) : (error.message || t('error.generic'));
}

/** A form: fields, a submit button and a line for errors that no field owns. */
export function form(attrs, fields, submitLabel, onSubmit) {
  const el = h('form', { novalidate: true, ...attrs },
    ...fields,
    h('p', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, submitLabel)));
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(el);
    const button = el.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await onSubmit(values(el), el);
    } catch (error) {
      if (error && error.status !== undefined) showError(el, error);
      else throw error;
    } finally {
      button.disabled = false;
    }
  });
  return el;
}
