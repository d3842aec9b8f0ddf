<?php
/**
 * The bodies the plugin sends, in the connector's generic shop contract (docs/shop-webhooks.md,
 * mappings/shop/cart.yaml and customer.yaml). Plain PHP over plain arrays: it loads without
 * WordPress, so the connector's tests build the same bodies with php-cli.
 */

if ( ! defined( 'ABSPATH' ) && ! defined( 'OCC_STANDALONE' ) ) {
	exit;
}

final class OCC_Payload {

	/**
	 * A cart event: `cart.updated` (an open basket), `cart.converted` (bought) or `cart.deleted`
	 * (emptied). `$cart`: id, customer {id, email, phone}, currency, total, checkout_url,
	 * created_at, updated_at, lines [{id, sku, product_id, variant_id, name, quantity, price, total}].
	 */
	public static function cart_event( string $type, array $cart, string $occurred_at ): string {
		$lines = array();
		foreach ( $cart['lines'] ?? array() as $line ) {
			$lines[] = array(
				'id'         => (string) $line['id'],
				'sku'        => (string) ( $line['sku'] ?? '' ),
				'product_id' => (string) $line['product_id'],
				'variant_id' => (string) ( $line['variant_id'] ?? $line['product_id'] ),
				'name'       => (string) ( $line['name'] ?? '' ),
				'quantity'   => (int) $line['quantity'],
				'price'      => self::money( $line['price'] ?? 0 ),
				'total'      => self::money( $line['total'] ?? 0 ),
			);
		}
		$data = array(
			'id'           => (string) $cart['id'],
			'customer'     => self::present( (array) ( $cart['customer'] ?? array() ) ),
			'currency'     => (string) ( $cart['currency'] ?? '' ),
			'total'        => self::money( $cart['total'] ?? 0 ),
			'checkout_url' => (string) ( $cart['checkout_url'] ?? '' ),
			'created_at'   => (string) ( $cart['created_at'] ?? $occurred_at ),
			'updated_at'   => (string) ( $cart['updated_at'] ?? $occurred_at ),
			'lines'        => $lines,
		);
		return self::json( array( 'type' => $type, 'occurred_at' => $occurred_at, 'data' => $data ) );
	}

	/** `customer.updated` with the marketing consent given (or not) at checkout. */
	public static function consent_event( array $customer, bool $consent, string $occurred_at ): string {
		$data = self::present( $customer ) + array( 'marketing_consent' => $consent );
		return self::json( array( 'type' => 'customer.updated', 'occurred_at' => $occurred_at, 'data' => $data ) );
	}

	/** Money as a decimal text with two places ("1990.00"), as the contract wants it. */
	public static function money( $value ): string {
		return number_format( (float) $value, 2, '.', '' );
	}

	/** The fields that have a value (an unknown phone is left out, not sent empty). */
	private static function present( array $fields ): array {
		return array_filter(
			array_map( 'strval', $fields ),
			static function ( string $value ): bool {
				return '' !== $value;
			}
		);
	}

	private static function json( array $body ): string {
		return (string) json_encode( $body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE );
	}
}
