// The web app in a real browser (Debian's Chromium via playwright-core):
// scripts/e2e.sh runs this with `node --test`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, ADMIN, ACCESS_TTL } from './harness.js';

let env;
before(async () => { env = await start(); });
after(async () => { if (env) await env.stop(); });

const PASSWORD = 'Toza-uy-parol-77';

/** A page of a fresh browser profile, dialogs accepted, failures logged. */
async function browser(options) {
  const context = await env.launch(options);
  const page = context.pages()[0] || await context.newPage();
  page.on('dialog', (dialog) => dialog.accept());
  page.on('pageerror', (error) => console.error('page error:', error));
  return { context, page };
}

async function open(page, url) {
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
}

async function login(page, email, password) {
  await page.goto(`${new URL(page.url()).origin}/#/login`);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).first().waitFor();
}

async function logout(page) {
  await page.getByRole('button', { name: 'Log out' }).first().click();
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
}

/** A local `datetime-local` value for tomorrow at `hour`. */
function tomorrow(hour) {
  const d = new Date(Date.now() + 86_400_000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(hour)}:00`;
}

async function book(page, serviceName, address) {
  await page.getByRole('listitem').filter({ hasText: serviceName }).getByRole('link', { name: 'Book' }).click();
  await page.getByLabel('Date and time').fill(tomorrow(10));
  await page.getByLabel('Address').fill(address);
  await page.getByLabel('Notes').fill('The key is with the neighbour.');
  await page.getByRole('button', { name: 'Place the order' }).click();
  await page.getByRole('heading', { name: 'My orders' }).waitFor();
  const card = page.locator('[data-order]').filter({ hasText: address });
  await card.getByText('Pending').waitFor();
  return card;
}

/** An ISO instant `days` from now at `hour` in Tashkent (UTC+5 all year). */
function visit(days, hour) {
  const day = new Date(Date.now() + 5 * 3_600_000 + days * 86_400_000).toISOString().slice(0, 10);
  return new Date(`${day}T${String(hour).padStart(2, '0')}:00:00+05:00`).toISOString();
}

/** A verified customer, arranged through the API. */
async function customer(name) {
  const email = `${name}@example.uz`;
  await env.asAdmin('POST', '/users', { username: name, email, password: PASSWORD, isVerified: true });
  return email;
}

test('a customer signs up, verifies by the mailed link, books, cancels, changes and resets the password, logs out', async () => {
  const { context, page } = await browser();
  try {
    await open(page, `${env.base}/`);
    // The catalogue, searched and sorted.
    await page.getByRole('heading', { name: 'Cleaning services' }).waitFor();
    await page.getByLabel('Search').fill('deraza');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.cards .card').length === 1);
    assert.match(await page.locator('.cards .card h2').innerText(), /Window washing/);
    await page.getByLabel('Search').fill('');
    await page.getByLabel('Sort by').selectOption('-price');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForFunction(() => location.hash.includes('-price'));
    await page.waitForFunction(() => /After-renovation/.test(document.querySelector('.cards .card h2')?.textContent || ''));

    // Sign up: the API's field message shows beside the field first.
    await page.getByRole('link', { name: 'Sign up' }).first().click();
    await page.getByLabel('Username').fill('nodira');
    await page.getByLabel('E-mail').fill('nodira@example.uz');
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    const passwordError = page.locator('[data-field="password"] .field-error');
    await passwordError.filter({ hasText: /\w/ }).waitFor();
    assert.equal(await page.getByLabel('Password').getAttribute('aria-invalid'), 'true');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('A verification link was sent to nodira@example.uz').waitFor();

    // The link of the mail the real SMTP server received opens the app's landing.
    const link = await env.waitForLink('nodira@example.uz', '#/verify-email?token=');
    assert.ok(link.startsWith(`${env.base}/#/verify-email?token=`), link);
    await page.goto(link);
    await page.getByText('Your e-mail address is verified').waitFor();

    await login(page, 'nodira@example.uz', PASSWORD);
    await page.getByRole('heading', { name: 'Cleaning services' }).waitFor();
    // A visit at 22:00 in Tashkent is refused, and the form says why.
    await page.getByRole('listitem').filter({ hasText: 'Window washing' }).getByRole('link', { name: 'Book' }).click();
    await page.getByLabel('Date and time').fill(tomorrow(22));
    await page.getByLabel('Address').fill('Chilonzor 9, 12');
    await page.getByRole('button', { name: 'Place the order' }).click();
    await page.getByText('Outside our working hours').waitFor();
    await page.getByRole('link', { name: 'Services', exact: true }).first().click();
    const card = await book(page, 'Window washing', 'Chilonzor 9, 12');
    assert.match(await card.innerText(), /Window washing/);
    await card.getByRole('button', { name: 'Cancel' }).click();
    await card.getByText('Cancelled').waitFor();
    assert.equal(await card.getByRole('button', { name: 'Cancel' }).count(), 0);

    // Change the password.
    await page.getByRole('link', { name: 'My account' }).click();
    await page.getByLabel('Current password').fill(PASSWORD);
    await page.getByLabel('New password').fill('Yangi-parol-2026!');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Your password is changed.').waitFor();

    await logout(page);
    assert.equal((await page.request.get(`${env.base}/api/v1/auth/me`)).status(), 401);

    // Forgot, and reset by the mailed link.
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('E-mail').fill('nodira@example.uz');
    await page.getByRole('button', { name: 'Send the link' }).click();
    await page.getByText('a mail is on its way').waitFor();
    const reset = await env.waitForLink('nodira@example.uz', '#/reset-password?token=');
    await page.goto(reset);
    await page.getByLabel('New password').fill('Uchinchi-parol-2026');
    await page.getByRole('button', { name: 'Save the password' }).click();
    await page.getByText('Log in with it').waitFor();
    await login(page, 'nodira@example.uz', 'Uchinchi-parol-2026');

    // The language switcher.
    await page.getByLabel('Language').selectOption('ru');
    await page.getByRole('heading', { name: 'Услуги уборки' }).waitFor();
    await page.getByLabel('Язык').selectOption('uz');
    await page.getByRole('heading', { name: 'Tozalash xizmatlari' }).waitFor();
    await page.getByLabel('Til').selectOption('en');
    await logout(page);
  } finally {
    await context.close();
  }
});

test('an administrator runs services, orders and users', async () => {
  const email = await customer('bahrom');
  const services = await env.asAdmin('GET', '/services?q=Ofis');
  const users = await env.asAdmin('GET', `/users?q=bahrom`);
  await env.asAdmin('POST', '/orders', { serviceId: services.data[0].id, userId: users.data[0].id, address: 'Yunusobod 4' });
  await env.asAdmin('POST', '/orders', { serviceId: services.data[0].id, userId: users.data[0].id, address: 'Yunusobod 5' });

  const { context, page } = await browser();
  try {
    await open(page, `${env.base}/`);
    await login(page, ADMIN.email, ADMIN.password);
    await page.getByRole('heading', { name: 'All orders' }).waitFor();

    // Services: create, edit, delete.
    await page.getByRole('link', { name: 'Manage services' }).click();
    await page.getByText('New service').click();
    const create = page.locator('#new-service');
    await create.getByLabel('Name').fill('Balkon tozalash — Balcony cleaning');
    await create.getByLabel('Price (UZS)').fill('-5');
    await create.getByRole('button', { name: 'Add the service' }).click();
    await create.locator('[data-field="price"] .field-error').filter({ hasText: /\w/ }).waitFor();
    await create.getByLabel('Price (UZS)').fill('150000');
    await create.getByRole('button', { name: 'Add the service' }).click();
    const row = page.locator('[data-service]').filter({ hasText: 'Balcony cleaning' });
    await row.waitFor();
    await row.locator('summary').click();
    await row.getByLabel('Price (UZS)').fill('175000');
    await row.getByRole('button', { name: 'Save' }).click();
    await page.getByText('The service is saved.').waitFor();
    await page.locator('[data-service]').filter({ hasText: 'Balcony cleaning' }).filter({ hasText: '175' }).waitFor();
    await page.locator('[data-service]').filter({ hasText: 'Balcony cleaning' }).locator('summary').click();
    await page.locator('[data-service]').filter({ hasText: 'Balcony cleaning' }).getByRole('button', { name: 'Delete' }).click();
    await page.getByText('The service is deleted.').waitFor();
    assert.equal(await page.locator('[data-service]').filter({ hasText: 'Balcony cleaning' }).count(), 0);

    // Orders: filter by customer and status, complete one, cancel another.
    await page.getByRole('link', { name: 'Orders', exact: true }).click();
    await page.getByLabel('Customer').selectOption({ label: `bahrom <${email}>` });
    await page.getByLabel('Status').selectOption('PENDING');
    await page.getByLabel('Placed from').fill(new Date().toISOString().slice(0, 10));
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForFunction(() => location.hash.includes('status=PENDING'));
    await page.waitForFunction(() => document.querySelectorAll('[data-order]').length === 2);
    const first = page.locator('[data-order]').filter({ hasText: 'Yunusobod 4' });
    await first.getByRole('button', { name: 'Complete' }).click();
    await page.getByText('The order is completed.').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-order]').length === 1);
    await page.locator('[data-order]').filter({ hasText: 'Yunusobod 5' }).getByRole('button', { name: 'Cancel' }).click();
    await page.getByText('The order is cancelled.').waitFor();
    const orders = await env.asAdmin('GET', `/orders?userId=${users.data[0].id}`);
    assert.deepEqual(orders.data.map((o) => o.status).sort(), ['CANCELLED', 'COMPLETED']);

    // The dispatcher's view: a customer's visits from tomorrow on, the soonest first.
    const order = { serviceId: services.data[0].id, userId: users.data[0].id };
    await env.asAdmin('POST', '/orders', { ...order, address: 'Olmazor 2', scheduledAt: visit(2, 9) });
    await env.asAdmin('POST', '/orders', { ...order, address: 'Olmazor 1', scheduledAt: visit(1, 15) });
    await page.getByRole('link', { name: 'Orders', exact: true }).click();
    await page.getByLabel('Customer').selectOption({ label: `bahrom <${email}>` });
    await page.getByLabel('Visit from').fill(visit(1, 9).slice(0, 10));
    await page.getByLabel('Sort by').selectOption('scheduledAt');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForFunction(() => location.hash.includes('sort=scheduledAt'));
    await page.waitForFunction(() => document.querySelectorAll('[data-order]').length === 2);
    const visits = await page.locator('[data-order]').evaluateAll((cards) => cards.map((c) => c.textContent.match(/Olmazor \d/)[0]));
    assert.deepEqual(visits, ['Olmazor 1', 'Olmazor 2']);

    // Users: search, change the role, delete.
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByLabel('Name or e-mail').fill('bahrom');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForFunction(() => document.querySelectorAll('[data-user]').length === 1);
    const user = page.locator('[data-user]');
    await user.getByLabel('Role').selectOption('ADMIN');
    await user.getByRole('button', { name: 'Save the role' }).click();
    await page.getByText('The role is saved.').waitFor();
    assert.equal((await env.asAdmin('GET', `/users/${users.data[0].id}`)).role, 'ADMIN');
    await page.locator('[data-user]').getByRole('button', { name: 'Delete' }).click();
    await page.getByText('The user is deleted.').waitFor();
    assert.equal((await env.asAdmin('GET', '/users?q=bahrom')).data.length, 0);
    await logout(page);
  } finally {
    await context.close();
  }
});

test('the session is refreshed after the access token expires', async () => {
  const email = await customer('komila');
  const { context, page } = await browser();
  try {
    await open(page, `${env.base}/`);
    await login(page, email, PASSWORD);
    const refreshes = [];
    page.on('response', (r) => { if (r.url().endsWith('/auth/refresh')) refreshes.push(r.status()); });
    // The access cookie lives ACCESS_TOKEN_TTL seconds; then the API says 401.
    await page.waitForTimeout((ACCESS_TTL + 1) * 1000);
    await book(page, 'Carpet washing', 'Mirzo Ulugʻbek 3');
    assert.ok(refreshes.includes(200), `a refresh happened: ${refreshes}`);
    // A reload after expiry still finds the session.
    await page.waitForTimeout((ACCESS_TTL + 1) * 1000);
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await page.getByRole('button', { name: 'Log out' }).first().waitFor();
    await logout(page);
    // Logged out: a reload stays logged out (the refresh cookie is gone).
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await page.getByRole('link', { name: 'Log in' }).first().waitFor();
    assert.equal(await page.getByRole('button', { name: 'Log out' }).count(), 0);
  } finally {
    await context.close();
  }
});

test('the same booking works from a page on another host of the site, and a hostile page can neither read nor write', async () => {
  const email = await customer('sardor');
  const { context, page } = await browser();
  try {
    await open(page, `${env.appOrigin}/`);
    await page.getByRole('heading', { name: 'Cleaning services' }).waitFor();
    await login(page, email, PASSWORD);
    const card = await book(page, 'Deep cleaning', 'Sergeli 7');
    await card.getByRole('button', { name: 'Cancel' }).click();
    await card.getByText('Cancelled').waitFor();
    await page.getByRole('link', { name: 'Services', exact: true }).first().click();
    await page.getByRole('heading', { name: 'Cleaning services' }).waitFor();
    await book(page, 'Deep cleaning', 'Sergeli 8');
    // Still logged in after the access token expired: refreshed across hosts.
    await page.waitForTimeout((ACCESS_TTL + 1) * 1000);
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await page.getByRole('link', { name: 'My orders' }).click();
    await page.locator('[data-order]').filter({ hasText: 'Sergeli 8' }).waitFor();

    // The hostile page, visited by the same logged-in browser.
    const users = await env.asAdmin('GET', '/users?q=sardor');
    const before = (await env.asAdmin('GET', `/orders?userId=${users.data[0].id}`)).meta.total;
    const service = (await env.asAdmin('GET', '/services?q=Deep')).data[0].id;
    const evil = await context.newPage();
    await evil.addInitScript((id) => { window.SERVICE_ID = id; }, service);
    await evil.goto(`${env.hostileOrigin}/`);
    await evil.waitForFunction(() => window.results && window.results.done);
    const results = await evil.evaluate(() => window.results);
    assert.equal(results.read, 'blocked', JSON.stringify(results));
    assert.equal(results.write, 'blocked', JSON.stringify(results));
    assert.equal(results.noCors, 'opaque', JSON.stringify(results));
    await evil.evaluate(() => document.getElementById('text').submit());
    await evil.waitForTimeout(500);
    await evil.evaluate(() => document.getElementById('urlencoded').submit());
    await evil.waitForTimeout(500);
    const after = (await env.asAdmin('GET', `/orders?userId=${users.data[0].id}`)).meta.total;
    assert.equal(after, before, 'the hostile page placed no order');
    // The form post did not log the user out either.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await page.getByRole('button', { name: 'Log out' }).first().waitFor();
    await logout(page);
  } finally {
    await context.close();
  }
});

test('on a 360 px phone the catalogue and the booking form fit the screen', async () => {
  const { context, page } = await browser({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  try {
    await open(page, `${env.base}/`);
    await page.getByRole('heading', { name: 'Cleaning services' }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px)`);
    // Keyboard only: tab to the first "Book" link and follow it.
    await page.keyboard.press('Tab');
    let focused = '';
    for (let i = 0; i < 40 && focused !== 'Book'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.textContent?.trim());
    }
    assert.equal(focused, 'Book');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
  } finally {
    await context.close();
  }
});
