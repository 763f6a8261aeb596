/**
 * The form that adds a user. The App owns its values and what submitting does;
 * bare, as the course's tests render it, it is an empty form that goes nowhere.
 */
export default function AddUser({
  username = '',
  email = '',
  submitting = false,
  addUser = (event) => event.preventDefault(),
  handleChange = () => {},
}) {
  return (
    <form onSubmit={addUser}>
      <div className="mb-3">
        <label htmlFor="username" className="form-label">
          Username
        </label>
        <input
          id="username"
          name="username"
          className="form-control form-control-lg"
          type="text"
          placeholder="Enter a username"
          autoComplete="username"
          required
          value={username}
          onChange={handleChange}
        />
      </div>
      <div className="mb-3">
        <label htmlFor="email" className="form-label">
          Email
        </label>
        <input
          id="email"
          name="email"
          className="form-control form-control-lg"
          type="email"
          placeholder="Enter an email address"
          autoComplete="email"
          required
          value={email}
          onChange={handleChange}
        />
      </div>
      <input
        type="submit"
        className="btn btn-primary btn-lg w-100"
        value="Submit"
        disabled={submitting}
      />
    </form>
  );
}
