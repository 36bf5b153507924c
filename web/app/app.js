// The booking app: its screens live in the URL fragment (`#/orders`), so the
// server only ever serves `/` and the files under `/app/`.

import { api, loadCsrf, forgetCsrf, idempotencyKey, ApiError } from './api.js';
import { t, initLanguage, setLanguage, language, LANGUAGES, languageName, money, dateTime } from './i18n.js';
import { h, field, form, showError, problemMessage } from './dom.js';

const state = { user: null };
const main = document.getElementById('main');

// ---------------------------------------------------------------- session

async function loadUser() {
  try {
    state.user = await api('GET', '/auth/me');
  } catch {
    state.user = null;
  }
  if (state.user && LANGUAGES.includes(state.user.locale)) await setLanguage(state.user.locale, false);
}

function isAdmin() { return state.user && state.user.role === 'ADMIN'; }

async function logout() {
  try { await api('POST', '/auth/logout'); } catch { /* the cookies expire anyway */ }
  state.user = null;
  forgetCsrf();
  go('#/login');
  flash(t('logout.done'));
}

// ---------------------------------------------------------------- routing

function parseHash() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  return { path, params: new URLSearchParams(query || '') };
}

function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

let pendingFlash = null;
function flash(text) { pendingFlash = text; showFlash(); }
function showFlash() {
  const box = document.getElementById('flash');
  box.textContent = pendingFlash || '';
  box.hidden = !pendingFlash;
}

const routes = [
  [/^\/$/, catalogue],
  [/^\/signup$/, signup],
  [/^\/login$/, login],
  [/^\/verify-email$/, verifyEmail],
  [/^\/forgot-password$/, forgotPassword],
  [/^\/reset-password$/, resetPassword],
  [/^\/book\/([0-9a-f]{24})$/, book, true],
  [/^\/orders$/, orders, true],
  [/^\/account$/, account, true],
  [/^\/admin\/services$/, adminServices, 'admin'],
  [/^\/admin\/users$/, adminUsers, 'admin'],
];

async function render() {
  const { path, params } = parseHash();
  const match = routes.find(([re]) => re.test(path));
  renderNav();
  main.replaceChildren();
  if (!match) return screen(t('notfound.title'), h('p', {}, h('a', { href: '#/' }, t('nav.catalogue'))));
  const [re, view, guard] = match;
  if (guard && !state.user) { flash(t('login.needed')); return go(`#/login?next=${encodeURIComponent('#' + path)}`); }
  if (guard === 'admin' && !isAdmin()) return screen(t('forbidden.title'), h('p', {}, t('forbidden.text')));
  try {
    await view(params, ...(path.match(re) || []).slice(1));
  } catch (error) {
    if (error instanceof ApiError) screen(t('error.title'), h('p', { role: 'alert', class: 'form-error' }, problemMessage(error)));
    else throw error;
  }
  showFlash();
  pendingFlash = null;
}

/** Puts a screen with its heading into main; the heading takes the focus. */
function screen(title, ...content) {
  const heading = h('h1', { tabindex: '-1' }, title);
  main.replaceChildren(heading, ...content.flat().filter((c) => c !== null && c !== undefined && c !== false));
  document.title = `${title} · Tozalash`;
  heading.focus({ preventScroll: true });
  return main;
}

function renderNav() {
  const nav = document.getElementById('nav');
  const link = (href, text) => h('a', { href, 'aria-current': location.hash === href ? 'page' : null }, text);
  const items = [link('#/', t('nav.catalogue'))];
  if (state.user) {
    items.push(link('#/orders', isAdmin() ? t('nav.allOrders') : t('nav.orders')));
    if (isAdmin()) items.push(link('#/admin/services', t('nav.services')), link('#/admin/users', t('nav.users')));
    items.push(link('#/account', t('nav.account')));
    items.push(h('button', { type: 'button', class: 'link', onclick: logout }, t('nav.logout')));
  } else {
    items.push(link('#/login', t('nav.login')), link('#/signup', t('nav.signup')));
  }
  nav.replaceChildren(...items);
  const select = document.getElementById('lang');
  select.replaceChildren(...LANGUAGES.map((l) => h('option', { value: l, selected: l === language() }, languageName(l))));
  document.getElementById('lang-label').textContent = t('language');
  document.getElementById('skip').textContent = t('skip');
  document.getElementById('nav').setAttribute('aria-label', t('nav.label'));
}

// ---------------------------------------------------------------- customer

async function catalogue(params) {
  const q = params.get('q') || '';
  const sort = params.get('sort') || 'name';
  const page = Number(params.get('page') || 1);
  const search = form({ class: 'inline', role: 'search' }, [
    field('q', t('catalogue.search'), { type: 'search', value: q }),
    field('sort', t('catalogue.sort'), {
      type: 'select', value: sort,
      options: [['name', t('sort.name')], ['price', t('sort.priceAsc')], ['-price', t('sort.priceDesc')], ['-createdAt', t('sort.newest')]],
    }),
  ], t('catalogue.go'), async (v) => {
    go(`#/?${new URLSearchParams({ q: v.q, sort: v.sort })}`);
  });
  const query = new URLSearchParams({ page, limit: 12, sort });
  if (q) query.set('q', q);
  const result = await api('GET', `/services?${query}`);
  const list = h('ul', { class: 'cards' }, result.data.map((s) => h('li', { class: 'card' },
    h('h2', {}, s.name),
    h('p', {}, s.description || ''),
    h('p', { class: 'price' }, money(s.price)),
    h('a', { class: 'button primary', href: `#/book/${s.id}` }, t('catalogue.book')))));
  screen(t('catalogue.title'), search,
    result.data.length ? list : h('p', {}, t('catalogue.empty')),
    pager(result.meta, (p) => `#/?${new URLSearchParams({ q, sort, page: p })}`));
}

function pager(meta, href) {
  if (!meta || meta.totalPages <= 1) return null;
  return h('nav', { class: 'pager', 'aria-label': t('pager.label') },
    meta.page > 1 ? h('a', { href: href(meta.page - 1) }, t('pager.prev')) : null,
    h('span', {}, t('pager.of', { page: meta.page, pages: meta.totalPages })),
    meta.page < meta.totalPages ? h('a', { href: href(meta.page + 1) }, t('pager.next')) : null);
}

function signup() {
  screen(t('signup.title'), form({ id: 'signup' }, [
    field('username', t('field.username'), { autocomplete: 'username', required: true }),
    field('email', t('field.email'), { type: 'email', autocomplete: 'email', required: true }),
    field('password', t('field.password'), { type: 'password', autocomplete: 'new-password', required: true, hint: t('password.hint') }),
  ], t('signup.submit'), async (v) => {
    // The account's mail is in the language the app is shown in.
    await api('POST', '/auth/signup', { ...v, locale: language() });
    flash(t('signup.done', { email: v.email }));
    go('#/login');
  }), h('p', {}, t('signup.haveAccount'), ' ', h('a', { href: '#/login' }, t('nav.login'))));
}

function login(params) {
  screen(t('login.title'), form({ id: 'login' }, [
    field('email', t('field.email'), { type: 'email', autocomplete: 'email', required: true }),
    field('password', t('field.password'), { type: 'password', autocomplete: 'current-password', required: true }),
  ], t('login.submit'), async (v) => {
    const answer = await api('POST', '/auth/login', v);
    state.user = answer.user;
    if (LANGUAGES.includes(state.user.locale)) await setLanguage(state.user.locale, false);
    go(params.get('next') || (isAdmin() ? '#/orders' : '#/'));
  }),
  h('p', {}, h('a', { href: '#/forgot-password' }, t('login.forgot'))),
  h('p', {}, t('login.noAccount'), ' ', h('a', { href: '#/signup' }, t('nav.signup'))));
}

async function verifyEmail(params) {
  const token = params.get('token') || '';
  screen(t('verify.title'), h('p', { role: 'status' }, t('verify.working')));
  try {
    await api('POST', '/auth/verify-email', { token });
    if (state.user) await loadUser();
    screen(t('verify.title'), h('p', { role: 'status', class: 'ok' }, t('verify.done')),
      h('p', {}, h('a', { class: 'button primary', href: state.user ? '#/' : '#/login' }, state.user ? t('nav.catalogue') : t('nav.login'))));
  } catch (error) {
    screen(t('verify.title'), h('p', { role: 'alert', class: 'form-error' },
      error.code === 'invalid_email_token' ? t('verify.invalid') : problemMessage(error)),
    resendForm());
  }
}

function resendForm() {
  return form({ id: 'resend' }, [
    field('email', t('field.email'), { type: 'email', autocomplete: 'email', required: true, value: state.user ? state.user.email : '' }),
  ], t('verify.resend'), async (v) => {
    await api('POST', '/auth/resend-verification', v);
    flash(t('mail.sent'));
    showFlash();
  });
}

function forgotPassword() {
  screen(t('forgot.title'), h('p', {}, t('forgot.text')), form({ id: 'forgot' }, [
    field('email', t('field.email'), { type: 'email', autocomplete: 'email', required: true }),
  ], t('forgot.submit'), async (v) => {
    await api('POST', '/auth/forgot-password', v);
    flash(t('mail.sent'));
    showFlash();
  }));
}

function resetPassword(params) {
  const token = params.get('token') || '';
  screen(t('reset.title'), form({ id: 'reset' }, [
    field('password', t('field.newPassword'), { type: 'password', autocomplete: 'new-password', required: true, hint: t('password.hint') }),
  ], t('reset.submit'), async (v, el) => {
    try {
      await api('POST', '/auth/reset-password', { token, password: v.password });
    } catch (error) {
      if (error.code === 'invalid_email_token') {
        el.querySelector('.form-error').textContent = t('reset.invalid');
        return;
      }
      throw error;
    }
    state.user = null;
    flash(t('reset.done'));
    go('#/login');
  }));
}

async function book(_params, id) {
  const service = await api('GET', `/services/${id}`);
  const notVerified = state.user && !state.user.isVerified;
  const key = idempotencyKey();
  screen(t('book.title', { name: service.name }),
    h('p', {}, service.description || ''),
    h('p', { class: 'price' }, money(service.price)),
    notVerified ? h('div', { class: 'notice', role: 'note' }, h('p', {}, t('book.verifyFirst')), resendForm()) : null,
    form({ id: 'book' }, [
      field('scheduledAt', t('field.scheduledAt'), { type: 'datetime-local', required: true }),
      field('address', t('field.address'), { autocomplete: 'street-address', required: true }),
      field('notes', t('field.notes'), { type: 'textarea', rows: 3 }),
    ], t('book.submit'), async (v) => {
      const body = { serviceId: id };
      if (v.scheduledAt) body.scheduledAt = new Date(v.scheduledAt).toISOString();
      if (v.address) body.address = v.address;
      if (v.notes) body.notes = v.notes;
      await api('POST', '/orders', body, { 'Idempotency-Key': key });
      flash(t('book.done'));
      go('#/orders');
    }));
}

function statusBadge(status) {
  return h('span', { class: `badge ${status.toLowerCase()}` }, t(`status.${status}`));
}

async function changeStatus(order, status) {
  const question = status === 'CANCELLED' ? t('orders.confirmCancel') : t('orders.confirmComplete');
  if (!confirm(question)) return;
  try {
    await api('PATCH', `/orders/${order.id}`, { status });
    flash(status === 'CANCELLED' ? t('orders.cancelled') : t('orders.completed'));
  } catch (error) {
    flash(problemMessage(error));
  }
  render();
}

async function orders(params) {
  const admin = isAdmin();
  const page = Number(params.get('page') || 1);
  const query = new URLSearchParams({ page, limit: 20 });
  for (const key of ['status', 'userId', 'serviceId']) if (params.get(key)) query.set(key, params.get(key));
  if (params.get('sort')) query.set('sort', params.get('sort'));
  // Days in the browser's time: from its first millisecond, until its last.
  for (const key of ['createdFrom', 'createdTo', 'scheduledFrom', 'scheduledTo']) {
    const value = params.get(key);
    if (value) query.set(key, new Date(key.endsWith('To') ? `${value}T23:59:59.999` : `${value}T00:00:00`).toISOString());
  }
  const result = await api('GET', `/orders?${query}`);
  let filters = null;
  if (admin) {
    const [users, services] = await Promise.all([
      api('GET', '/users?limit=100'),
      api('GET', '/services?limit=100'),
    ]);
    filters = form({ id: 'filters', class: 'inline' }, [
      field('status', t('field.status'), { type: 'select', value: params.get('status') || '',
        options: [['', t('filter.any')], ...['PENDING', 'COMPLETED', 'CANCELLED'].map((s) => [s, t(`status.${s}`)])] }),
      field('userId', t('field.customer'), { type: 'select', value: params.get('userId') || '',
        options: [['', t('filter.any')], ...users.data.map((u) => [u.id, `${u.username} <${u.email}>`])] }),
      field('serviceId', t('field.service'), { type: 'select', value: params.get('serviceId') || '',
        options: [['', t('filter.any')], ...services.data.map((s) => [s.id, s.name])] }),
      field('createdFrom', t('field.createdFrom'), { type: 'date', value: params.get('createdFrom') || '' }),
      field('createdTo', t('field.createdTo'), { type: 'date', value: params.get('createdTo') || '' }),
      field('scheduledFrom', t('field.scheduledFrom'), { type: 'date', value: params.get('scheduledFrom') || '' }),
      field('scheduledTo', t('field.scheduledTo'), { type: 'date', value: params.get('scheduledTo') || '' }),
      field('sort', t('catalogue.sort'), { type: 'select', value: params.get('sort') || '-createdAt',
        options: [['-createdAt', t('sort.newest')], ['scheduledAt', t('sort.visitSoonest')], ['-scheduledAt', t('sort.visitLatest')]] }),
    ], t('filter.apply'), async (v) => {
      const next = new URLSearchParams(Object.entries(v).filter(([, x]) => x));
      go(`#/orders?${next}`);
    });
  }
  const list = h('ul', { class: 'cards orders' }, result.data.map((o) => h('li', { class: 'card', 'data-order': o.id },
    h('h2', {}, o.serviceName, ' ', statusBadge(o.status)),
    h('dl', {},
      h('dt', {}, t('field.scheduledAt')), h('dd', {}, dateTime(o.scheduledAt)),
      h('dt', {}, t('field.address')), h('dd', {}, o.address || '—'),
      o.notes ? [h('dt', {}, t('field.notes')), h('dd', {}, o.notes)] : null,
      h('dt', {}, t('orders.price')), h('dd', {}, money(o.price)),
      h('dt', {}, t('orders.placed')), h('dd', {}, dateTime(o.createdAt)),
      admin ? [h('dt', {}, t('field.customer')), h('dd', {}, o.customerName || h('code', {}, o.userId))] : null),
    o.status === 'PENDING' ? h('div', { class: 'actions' },
      admin ? h('button', { type: 'button', class: 'primary', onclick: () => changeStatus(o, 'COMPLETED') }, t('orders.complete')) : null,
      h('button', { type: 'button', class: 'danger', onclick: () => changeStatus(o, 'CANCELLED') }, t('orders.cancel'))) : null)));
  const rest = Object.fromEntries([...params.entries()].filter(([k]) => k !== 'page'));
  screen(admin ? t('orders.allTitle') : t('orders.title'), filters,
    result.data.length ? list : h('p', {}, admin ? t('orders.none') : t('orders.empty')),
    pager(result.meta, (p) => `#/orders?${new URLSearchParams({ ...rest, page: p })}`));
}

function account() {
  const user = state.user;
  const languageForm = form({ id: 'language' }, [
    field('locale', t('language'), { type: 'select', value: user.locale || language(),
      options: LANGUAGES.map((l) => [l, languageName(l)]) }),
  ], t('account.saveLanguage'), async (v) => {
    await setLanguage(v.locale);
    if ('locale' in user) state.user = await api('PATCH', `/users/${user.id}`, { locale: v.locale });
    flash(t('account.saved'));
    render();
  });
  screen(t('account.title'),
    h('dl', { class: 'profile' },
      h('dt', {}, t('field.username')), h('dd', {}, user.username),
      h('dt', {}, t('field.email')), h('dd', {}, user.email, ' ',
        user.isVerified ? h('span', { class: 'badge completed' }, t('account.verified')) : h('span', { class: 'badge pending' }, t('account.unverified'))),
      h('dt', {}, t('field.role')), h('dd', {}, t(`role.${user.role}`))),
    user.isVerified ? null : resendForm(),
    h('h2', {}, t('language')), languageForm,
    h('h2', {}, t('password.title')),
    form({ id: 'change-password' }, [
      field('currentPassword', t('field.currentPassword'), { type: 'password', autocomplete: 'current-password', required: true }),
      field('newPassword', t('field.newPassword'), { type: 'password', autocomplete: 'new-password', required: true, hint: t('password.hint') }),
    ], t('password.submit'), async (v, el) => {
      await api('POST', '/auth/change-password', v);
      el.reset();
      flash(t('password.changed'));
      showFlash();
    }),
    h('h2', {}, t('nav.logout')),
    h('p', {}, h('button', { type: 'button', class: 'danger', id: 'logout', onclick: logout }, t('nav.logout'))));
}

// ---------------------------------------------------------------- administrator

function serviceFields(s = {}) {
  return [
    field('name', t('field.name'), { required: true, value: s.name || '' }),
    field('description', t('field.description'), { type: 'textarea', rows: 2, value: s.description || '' }),
    field('price', t('field.price'), { type: 'number', min: 0, step: '0.01', required: true, inputmode: 'decimal',
      value: s.price !== undefined ? String(s.price / 100) : '' }),
  ];
}

function serviceBody(v) {
  const price = v.price === '' ? '' : Math.round(Number(v.price) * 100);
  return { name: v.name, description: v.description, price: Number.isFinite(price) ? price : v.price };
}

async function adminServices(params) {
  const page = Number(params.get('page') || 1);
  const result = await api('GET', `/services?${new URLSearchParams({ page, limit: 50, sort: 'name' })}`);
  const create = form({ id: 'new-service' }, serviceFields(), t('services.create'), async (v) => {
    await api('POST', '/services', serviceBody(v));
    flash(t('services.created'));
    render();
  });
  const rows = result.data.map((s) => {
    const edit = form({ class: 'edit-service' }, serviceFields(s), t('services.save'), async (v) => {
      await api('PATCH', `/services/${s.id}`, serviceBody(v));
      flash(t('services.saved'));
      render();
    });
    const remove = h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (!confirm(t('services.confirmDelete', { name: s.name }))) return;
      try { await api('DELETE', `/services/${s.id}`); flash(t('services.deleted')); } catch (e) { flash(problemMessage(e)); }
      render();
    } }, t('services.delete'));
    return h('li', { class: 'card', 'data-service': s.id },
      h('details', {}, h('summary', {}, h('strong', {}, s.name), ' — ', money(s.price)), edit, remove));
  });
  screen(t('services.title'),
    h('details', { class: 'card', open: !result.data.length }, h('summary', {}, t('services.new')), create),
    h('ul', { class: 'cards wide' }, rows),
    pager(result.meta, (p) => `#/admin/services?page=${p}`));
}

async function adminUsers(params) {
  const q = params.get('q') || '';
  const page = Number(params.get('page') || 1);
  const query = new URLSearchParams({ page, limit: 20 });
  if (q) query.set('q', q);
  const result = await api('GET', `/users?${query}`);
  const search = form({ class: 'inline', role: 'search' }, [
    field('q', t('users.search'), { type: 'search', value: q }),
  ], t('catalogue.go'), async (v) => go(`#/admin/users?${new URLSearchParams({ q: v.q })}`));
  const rows = result.data.map((u) => {
    const role = form({ class: 'inline role' }, [
      field('role', t('field.role'), { type: 'select', value: u.role, options: [['USER', t('role.USER')], ['ADMIN', t('role.ADMIN')]] }),
    ], t('users.saveRole'), async (v) => {
      await api('PATCH', `/users/${u.id}`, { role: v.role });
      flash(t('users.saved'));
      if (u.id === state.user.id) await loadUser();
      render();
    });
    const remove = h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (!confirm(t('users.confirmDelete', { name: u.username }))) return;
      try { await api('DELETE', `/users/${u.id}`); flash(t('users.deleted')); } catch (e) { flash(problemMessage(e)); }
      render();
    } }, t('users.delete'));
    return h('li', { class: 'card', 'data-user': u.id },
      h('h2', {}, u.username, ' ', u.isVerified ? null : h('span', { class: 'badge pending' }, t('account.unverified'))),
      h('p', {}, u.email),
      h('p', { class: 'muted' }, t('users.since', { date: dateTime(u.createdAt) })),
      role, remove);
  });
  screen(t('users.title'), search,
    result.data.length ? h('ul', { class: 'cards' }, rows) : h('p', {}, t('users.none')),
    pager(result.meta, (p) => `#/admin/users?${new URLSearchParams({ q, page: p })}`));
}

// ---------------------------------------------------------------- start

async function start() {
  await initLanguage();
  document.getElementById('lang').addEventListener('change', async (event) => {
    await setLanguage(event.target.value);
    if (state.user) {
      try { state.user = await api('PATCH', `/users/${state.user.id}`, { locale: event.target.value }); } catch { /* kept locally */ }
    }
    render();
  });
  await loadCsrf();
  await loadUser();
  window.addEventListener('hashchange', render);
  await render();
  document.body.dataset.ready = 'true';
}

start();
export { showError };
