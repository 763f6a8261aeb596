/** Every user as a card, in the order the service gives them. */
export default function UsersList({ users = [] }) {
  return (
    <div className="d-grid gap-2">
      {users.map((user) => (
        <h4 key={user.id} className="card card-body bg-light">
          {user.username}
        </h4>
      ))}
    </div>
  );
}
