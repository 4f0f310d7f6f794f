package main

import (
	"errors"
	"regexp"

	"github.com/phxgo/phx/token"
	"github.com/phxgo/phx/transport"
)

// tokenSalt namespaces the user tokens, as Phoenix.Token's salt does.
const tokenSalt = "user socket"

var userIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// UserSocket authenticates connections with a signed token carrying the
// user id.
type UserSocket struct {
	tokens *token.Signer
}

var errBadToken = errors.New("missing or invalid token")

func (u UserSocket) Connect(params map[string]string, info transport.ConnectInfo) (map[string]any, error) {
	// The token comes in the params, or, from a phoenix client given
	// authToken (1.8), in the WebSocket subprotocol or long-poll header,
	// kept out of URLs and their logs.
	t := params["token"]
	if t == "" {
		t = info.AuthToken
	}
	userID, err := verifyUser(u.tokens, t)
	if err != nil {
		return nil, err
	}
	return map[string]any{"user_id": userID}, nil
}

// verifyUser returns the user id a token carries if the socket would accept
// it, so that GET /api/whoami and the socket never disagree.
func verifyUser(tokens *token.Signer, t string) (string, error) {
	var userID string
	if err := tokens.VerifyInto(t, &userID, token.WithMaxAge(token.DefaultMaxAge)); err != nil {
		return "", errBadToken
	}
	if !userIDPattern.MatchString(userID) {
		return "", errBadToken
	}
	return userID, nil
}

func (UserSocket) ID(assigns map[string]any) string {
	return "users_socket:" + assigns["user_id"].(string)
}
