<?php
/**
 * Standard Webhooks signing and the signed cart-restore token. Plain PHP: it loads without
 * WordPress, so integrations/wordpress/tests/sign.php (and the connector's CI) can run it.
 *
 * A delivery carries `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`:
 * `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the secret `whsec_<base64>`
 * (standardwebhooks.com; the connector's docs/shop-webhooks.md).
 */

if ( ! defined( 'ABSPATH' ) && ! defined( 'OCC_STANDALONE' ) ) {
	exit;
}

final class OCC_Signer {

	/** The HMAC key of a `whsec_<base64>` secret (a secret that is not base64 is used as is). */
	public static function key( string $secret ): string {
		$raw     = 0 === strpos( $secret, 'whsec_' ) ? substr( $secret, 6 ) : $secret;
		$decoded = base64_decode( $raw, true );
		return ( false === $decoded || '' === $raw ) ? $raw : $decoded;
	}

	/** The `webhook-signature` value of `$body`. */
	public static function signature( string $secret, string $id, int $timestamp, string $body ): string {
		$mac = hash_hmac( 'sha256', $id . '.' . $timestamp . '.' . $body, self::key( $secret ), true );
		return 'v1,' . base64_encode( $mac );
	}

	/** The three headers of a signed delivery. */
	public static function headers( string $secret, string $id, int $timestamp, string $body ): array {
		return array(
			'webhook-id'        => $id,
			'webhook-timestamp' => (string) $timestamp,
			'webhook-signature' => self::signature( $secret, $id, $timestamp, $body ),
			'Content-Type'      => 'application/json',
		);
	}

	/** A URL-safe token carrying `$data`, signed with the secret (for the cart-restore link). */
	public static function token( string $secret, array $data ): string {
		$payload = self::b64url( json_encode( $data ) );
		$mac     = hash_hmac( 'sha256', 'cart-restore.' . $payload, self::key( $secret ), true );
		return $payload . '.' . self::b64url( $mac );
	}

	/** The data of a token made by `token` with this secret, or null (forged, broken, expired). */
	public static function read_token( string $secret, string $token, int $now ): ?array {
		$parts = explode( '.', $token );
		if ( '' === $secret || 2 !== count( $parts ) ) { // no secret set: nothing is trusted
			return null;
		}
		$mac = self::b64url( hash_hmac( 'sha256', 'cart-restore.' . $parts[0], self::key( $secret ), true ) );
		if ( ! hash_equals( $mac, $parts[1] ) ) {
			return null;
		}
		$data = json_decode( (string) base64_decode( strtr( $parts[0], '-_', '+/' ) ), true );
		if ( ! is_array( $data ) || ( isset( $data['exp'] ) && (int) $data['exp'] < $now ) ) {
			return null;
		}
		return $data;
	}

	private static function b64url( string $bytes ): string {
		return rtrim( strtr( base64_encode( $bytes ), '+/', '-_' ), '=' );
	}
}
