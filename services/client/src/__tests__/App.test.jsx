import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, test, vi } from 'vitest';

import { NETWORK_FAILURE } from '../api.js';
import App from '../App.jsx';

const michael = { active: true, email: 'hermanmu@gmail.com', id: 1, username: 'michael' };

function jsonResponse(status, body) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

/** A fetch that answers like the users service, keeping its users in memory. */
function fakeUsersService(initialUsers = []) {
  const users = [...initialUsers];
  return vi.fn(async (url, { method = 'GET', body } = {}) => {
    if (url !== '/users') {
      return jsonResponse(404, { status: 'fail', message: 'Not Found' });
    }
    if (method === 'GET') {
      return jsonResponse(200, { status: 'success', data: { users: [...users] } });
    }
    const { username, email } = JSON.parse(body);
    if (users.some((user) => user.email === email)) {
      return jsonResponse(400, { status: 'fail', message: 'Sorry. That email already exists.' });
    }
    users.push({ active: true, email, id: users.length + 1, username });
    return jsonResponse(201, { status: 'success', message: `${email} was added!` });
  });
}

function cardNames() {
  return screen.queryAllByRole('heading', { level: 4 }).map((card) => card.textContent);
}

async function fillForm(user, { username, email }) {
  await user.type(screen.getByLabelText('Username'), username);
  await user.type(screen.getByLabelText('Email'), email);
}

let user;

beforeEach(() => {
  user = userEvent.setup();
});

describe('App', () => {
  test('shows the heading and the users from GET /users', async () => {
    const fetch = fakeUsersService([michael]);
    vi.stubGlobal('fetch', fetch);
    render(<App />);

    expect(screen.getByRole('heading', { level: 1, name: 'All Users' })).toBeInTheDocument();
    expect(await screen.findByRole('heading', { level: 4, name: 'michael' })).toHaveClass(
      'card card-body bg-light',
    );
    expect(fetch).toHaveBeenCalledWith('/users', expect.objectContaining({}));
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
  });

  test('adds a user, then refreshes the list and clears the form', async () => {
    const fetch = fakeUsersService([michael]);
    vi.stubGlobal('fetch', fetch);
    render(<App />);
    await screen.findByRole('heading', { level: 4, name: 'michael' });

    await fillForm(user, { username: 'fletcher', email: 'fletcher@notreal.com' });
    await user.click(screen.getByRole('button', { name: 'Submit' }));

    expect(await screen.findByRole('heading', { level: 4, name: 'fletcher' })).toBeInTheDocument();
    expect(cardNames()).toEqual(['michael', 'fletcher']);
    expect(screen.getByLabelText('Username')).toHaveValue('');
    expect(screen.getByLabelText('Email')).toHaveValue('');
    const [, options] = fetch.mock.calls.find(([, init]) => init?.method === 'POST');
    expect(options.headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(options.body)).toEqual({
      username: 'fletcher',
      email: 'fletcher@notreal.com',
    });
  });

  test("shows the service's message and keeps what the user typed", async () => {
    vi.stubGlobal('fetch', fakeUsersService([michael]));
    render(<App />);
    await screen.findByRole('heading', { level: 4, name: 'michael' });

    await fillForm(user, { username: 'michael2', email: 'hermanmu@gmail.com' });
    await user.click(screen.getByRole('button', { name: 'Submit' }));

    expect(await screen.findByRole('alert')).toHaveTextContent(
      'Sorry. That email already exists.',
    );
    expect(screen.getByLabelText('Username')).toHaveValue('michael2');
    expect(screen.getByLabelText('Email')).toHaveValue('hermanmu@gmail.com');
    expect(cardNames()).toEqual(['michael']);
    expect(screen.getByRole('button', { name: 'Submit' })).toBeEnabled();
  });

  test("shows the service's detail after its message", async () => {
    const fetch = fakeUsersService();
    fetch.mockImplementation(async (url, { method = 'GET' } = {}) =>
      method === 'GET'
        ? jsonResponse(200, { status: 'success', data: { users: [] } })
        : jsonResponse(400, {
            status: 'fail',
            message: 'Invalid payload.',
            detail: 'email is not a valid email address.',
          }),
    );
    vi.stubGlobal('fetch', fetch);
    render(<App />);

    await fillForm(user, { username: 'someone', email: 'someone@localhost' });
    await user.click(screen.getByRole('button', { name: 'Submit' }));

    expect(await screen.findByRole('alert')).toHaveTextContent(
      'Invalid payload. email is not a valid email address.',
    );
    expect(screen.getByLabelText('Email')).toHaveValue('someone@localhost');
  });

  test('says so when the service cannot be reached', async () => {
    const fetch = fakeUsersService();
    vi.stubGlobal('fetch', fetch);
    render(<App />);
    await vi.waitFor(() => expect(fetch).toHaveBeenCalledTimes(1));
    fetch.mockRejectedValue(new TypeError('Failed to fetch'));

    await fillForm(user, { username: 'fletcher', email: 'fletcher@notreal.com' });
    await user.click(screen.getByRole('button', { name: 'Submit' }));

    expect(await screen.findByRole('alert')).toHaveTextContent(NETWORK_FAILURE);
    expect(screen.getByLabelText('Username')).toHaveValue('fletcher');
  });

  test('says so when the list cannot be loaded', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response('<html>Bad Gateway</html>', { status: 502 })),
    );
    render(<App />);

    expect(await screen.findByRole('alert')).toHaveTextContent(
      'The users service answered with an error (HTTP 502).',
    );
    expect(cardNames()).toEqual([]);
  });

  test('disables the submit button while the request is in flight', async () => {
    const service = fakeUsersService();
    let answerPost;
    const fetch = vi.fn((url, init = {}) =>
      init.method === 'POST'
        ? new Promise((resolve) => {
            answerPost = () => resolve(service(url, init));
          })
        : service(url, init),
    );
    vi.stubGlobal('fetch', fetch);
    render(<App />);
    await vi.waitFor(() => expect(fetch).toHaveBeenCalledTimes(1));

    await fillForm(user, { username: 'fletcher', email: 'fletcher@notreal.com' });
    const submit = screen.getByRole('button', { name: 'Submit' });
    await user.click(submit);
    expect(submit).toBeDisabled();
    await user.click(submit);
    expect(fetch.mock.calls.filter(([, init]) => init?.method === 'POST')).toHaveLength(1);

    answerPost();
    expect(await screen.findByRole('heading', { level: 4, name: 'fletcher' })).toBeInTheDocument();
    expect(submit).toBeEnabled();
  });

  test('clears an earlier error once a user is added', async () => {
    vi.stubGlobal('fetch', fakeUsersService([michael]));
    render(<App />);
    await screen.findByRole('heading', { level: 4, name: 'michael' });
    await fillForm(user, { username: 'michael2', email: 'hermanmu@gmail.com' });
    await user.click(screen.getByRole('button', { name: 'Submit' }));
    await screen.findByRole('alert');

    const email = screen.getByLabelText('Email');
    await user.clear(email);
    await user.type(email, 'michael2@mherman.org');
    await user.click(screen.getByRole('button', { name: 'Submit' }));

    expect(await screen.findByRole('heading', { level: 4, name: 'michael2' })).toBeInTheDocument();
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
    expect(within(screen.getByRole('main')).getAllByRole('heading', { level: 4 })).toHaveLength(2);
  });
});
