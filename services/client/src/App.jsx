import { useEffect, useState } from 'react';

import { addUser, getUsers } from './api.js';
import AddUser from './components/AddUser.jsx';
import UsersList from './components/UsersList.jsx';

const EMPTY_FORM = { username: '', email: '' };

/** The page: the users service's users, and a form to add one. */
export default function App() {
  const [users, setUsers] = useState([]);
  const [form, setForm] = useState(EMPTY_FORM);
  const [error, setError] = useState('');
  const [submitting, setSubmitting] = useState(false);

  useEffect(() => {
    const controller = new AbortController();
    getUsers({ signal: controller.signal })
      .then(setUsers)
      .catch((failure) => {
        if (!controller.signal.aborted) setError(failure.message);
      });
    return () => controller.abort();
  }, []);

  function handleChange(event) {
    const { name, value } = event.target;
    setForm((current) => ({ ...current, [name]: value }));
  }

  async function handleAddUser(event) {
    event.preventDefault();
    if (submitting) return;
    setSubmitting(true);
    setError('');
    try {
      await addUser(form);
      setForm(EMPTY_FORM);
      setUsers(await getUsers());
    } catch (failure) {
      // What the person typed stays in the form, so they can correct it.
      setError(failure.message);
    } finally {
      setSubmitting(false);
    }
  }

  return (
    <main className="container">
      <div className="row">
        <div className="col-md-6">
          <h1 className="mt-4">All Users</h1>
          <hr className="mb-4" />
          {error && (
            <div className="alert alert-danger" role="alert">
              {error}
            </div>
          )}
          <AddUser
            username={form.username}
            email={form.email}
            submitting={submitting}
            addUser={handleAddUser}
            handleChange={handleChange}
          />
          <div className="mt-4">
            <UsersList users={users} />
          </div>
        </div>
      </div>
    </main>
  );
}
