<?php
/**
 * Signs a cart event the way the plugin does, without WordPress (the connector's tests run it):
 *
 *   php sign.php <secret> [webhook-id] [timestamp] < request.json
 *
 * request.json: {"type": "cart.updated", "cart": {...the plugin's cart array...}} builds the body
 * with OCC_Payload::cart_event; {"customer": {...}, "consent": true} the checkout's consent
 * event (OCC_Payload::consent_event); {"body": "..."} signs that text as it is. Prints
 * {"headers": {...}, "body": "..."}: what the plugin's wp_remote_post sends. With "restore":
 * {...} it also prints the cart-restore token of that data; with "read": "<token>", what the
 * plugin reads from that token at the timestamp (null: forged or expired).
 */

define( 'OCC_STANDALONE', true );
$plugin = dirname( __DIR__ ) . '/omnichannel-connector/includes';
require $plugin . '/class-signer.php';
require $plugin . '/class-payload.php';

if ( $argc < 2 ) {
	fwrite( STDERR, "usage: php sign.php <secret> [webhook-id] [timestamp] < request.json\n" );
	exit( 2 );
}
$secret    = $argv[1];
$id        = $argv[2] ?? 'msg_' . bin2hex( random_bytes( 12 ) );
$timestamp = isset( $argv[3] ) ? (int) $argv[3] : time();
$request   = json_decode( (string) stream_get_contents( STDIN ), true );
if ( ! is_array( $request ) ) {
	fwrite( STDERR, "stdin: expected a JSON object\n" );
	exit( 2 );
}
$stamp = (string) ( $request['occurred_at'] ?? gmdate( 'c', $timestamp ) );
if ( isset( $request['body'] ) ) {
	$body = (string) $request['body'];
} elseif ( isset( $request['customer'] ) ) {
	$body = OCC_Payload::consent_event( (array) $request['customer'], (bool) $request['consent'], $stamp );
} else {
	$body = OCC_Payload::cart_event( (string) $request['type'], (array) $request['cart'], $stamp );
}
$token = isset( $request['restore'] ) ? OCC_Signer::token( $secret, (array) $request['restore'] ) : null;
$read  = isset( $request['read'] ) ? OCC_Signer::read_token( $secret, (string) $request['read'], $timestamp ) : null;

echo json_encode(
	array(
		'headers' => OCC_Signer::headers( $secret, $id, $timestamp, $body ),
		'body'    => $body,
		'token'   => $token,
		'read'    => $read,
	),
	JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE
), "\n";
