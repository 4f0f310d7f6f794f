// Package token signs and verifies tokens compatible with Phoenix.Token.
//
// A Phoenix app typically signs a user id when it renders a page and the
// page's JavaScript hands the token back when it connects its socket:
//
//	token = Phoenix.Token.sign(MyAppWeb.Endpoint, "user socket", user.id)
//	{:ok, user_id} = Phoenix.Token.verify(socket, "user socket", token, max_age: 1_209_600)
//
// A [Signer] made with the endpoint's secret_key_base and the same salt
// does both, so a Go server can verify the tokens a Phoenix app mints and
// mint tokens a Phoenix app verifies:
//
//	s, err := token.New(secretKeyBase, "user socket")
//	...
//	var userID int64
//	err = s.VerifyInto(params["token"], &userID, token.WithMaxAge(14*24*time.Hour))
//
// # Compatibility
//
// The format is Plug.Crypto's, which backs Phoenix.Token, with its default
// key options:
//
//   - the key is PBKDF2-HMAC-SHA256 of the secret_key_base, salted with
//     the salt, 1000 iterations, 32 bytes; [New] derives it once;
//   - a token is H.P.S, three unpadded base64url segments: the algorithm
//     (always "HS256" when signing; "HS384" and "HS512" are accepted),
//     the payload, and the HMAC of "H.P" keyed with the derived key;
//   - the payload is term_to_binary({data, signed_at_ms, max_age_s}) in
//     the Erlang External Term Format, so data travels as Erlang terms:
//     see [Signer.Sign] and [Signer.Verify] for how Go values map to them.
//
// Verification follows Phoenix.Token.verify: the max age given to Verify
// overrides the embedded one, and the errors [ErrInvalid], [ErrExpired]
// and [ErrMissing] stand for its {:error, :invalid}, {:error, :expired}
// and {:error, :missing}.
//
// Not supported: the key_iterations, key_length and key_digest options
// (derive the key yourself and use [NewWithKey]), encrypted tokens
// (Phoenix.Token.encrypt), and payloads holding pids, references, ports,
// functions or bit strings, which a Go program could not use anyway.
//
// # Safety
//
// Only a holder of the key can make a payload that Verify decodes: the
// signature is checked first. Even so the decoder is defensive: nesting
// is bounded, lengths are checked against the input before anything is
// allocated, payloads may not exceed 1 MiB even once inflated, and no
// input makes it panic.
//
// A Signer is safe for concurrent use by any number of goroutines.
package token
