package token_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phxgo/phx/token"
)

// A Go server and a Phoenix app that share a secret_key_base verify each
// other's tokens. This token is the one Phoenix.Token.sign gives for 42,
// signed at 1,700,000,000,000 ms.
func Example() {
	secretKeyBase := strings.Repeat("a", 64) // the endpoint's secret_key_base
	s, err := token.New(secretKeyBase, "user socket")
	if err != nil {
		panic(err)
	}

	signedAt := time.UnixMilli(1_700_000_000_000)
	tok, err := s.Sign(42, token.WithSignedAt(signedAt))
	if err != nil {
		panic(err)
	}
	fmt.Println(tok)

	// A clock one hour later: the token is good for a day.
	later := token.WithClock(func() time.Time { return signedAt.Add(time.Hour) })
	var userID int64
	err = s.VerifyInto(tok, &userID, later)
	fmt.Println(userID, err)

	// A max age given to Verify overrides the one in the token.
	_, err = s.Verify(tok, later, token.WithMaxAge(30*time.Minute))
	fmt.Println(errors.Is(err, token.ErrExpired))
	// Output:
	// SFMyNTY.g2gDYSpuBgAAaOXPiwFiAAFRgA.vS9_m3KrZklLiGW90qm-ecaOXJmcQDrOJHiay9rGJEo
	// 42 <nil>
	// true
}

// Elixir data comes back as Go values: maps as map[any]any, atoms as
// token.Atom, tuples as token.Tuple.
func ExampleSigner_Verify() {
	s, err := token.New(strings.Repeat("a", 64), "user socket")
	if err != nil {
		panic(err)
	}
	// Like Phoenix.Token.sign(endpoint, "user socket", %{id: 7, role: :admin, scope: {"room", 1}}).
	tok, err := s.Sign(map[token.Atom]any{
		"id":    7,
		"role":  token.Atom("admin"),
		"scope": token.Tuple{"room", 1},
	})
	if err != nil {
		panic(err)
	}
	data, err := s.Verify(tok)
	if err != nil {
		panic(err)
	}
	m := data.(map[any]any)
	fmt.Printf("%v %q %#v\n", m[token.Atom("id")], m[token.Atom("role")], m[token.Atom("scope")])

	// A token signed with another salt is invalid.
	other, err := token.New(strings.Repeat("a", 64), "admin socket")
	if err != nil {
		panic(err)
	}
	_, err = other.Verify(tok)
	fmt.Println(errors.Is(err, token.ErrInvalid))
	// Output:
	// 7 "admin" token.Tuple{"room", 1}
	// true
}
