<?php
/**
 * The WooCommerce side: cart changes become signed cart events for the connector, a checkout
 * link restores the cart, the checkout asks for marketing consent, and an order keeps the
 * Mailchimp campaign it came from.
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

final class OCC_Plugin {

	const SESSION_CART   = 'occ_cart_id';      // the cart's id in the connector (one per basket)
	const SESSION_SINCE  = 'occ_cart_created';
	const COOKIE_CAMPAIGN = 'occ_mc_cid';
	const COOKIE_LANDING = 'occ_mc_landing';
	const RESTORE_ARG    = 'occ_cart';
	const CONSENT_FIELD  = 'occ_marketing_consent';
	const BLOCK_FIELD    = 'occ/marketing-consent';
	const RESTORE_DAYS   = 30;

	/** What this request changed: 'updated', 'deleted', or null (nothing to send). */
	private static $pending = null;
	private static $converted = false;
	private static $restoring = false;

	public static function boot(): void {
		foreach ( array(
			'woocommerce_add_to_cart',
			'woocommerce_cart_item_removed',
			'woocommerce_after_cart_item_quantity_update',
			'woocommerce_cart_item_restored',
			'woocommerce_checkout_update_order_review', // a guest typed an email at checkout
		) as $hook ) {
			add_action( $hook, array( __CLASS__, 'cart_changed' ) );
		}
		add_action( 'woocommerce_cart_emptied', array( __CLASS__, 'cart_emptied' ) );
		add_action( 'woocommerce_checkout_order_processed', array( __CLASS__, 'order_placed' ), 10, 3 );
		add_action( 'woocommerce_store_api_checkout_order_processed', array( __CLASS__, 'block_order_placed' ) );
		add_action( 'woocommerce_review_order_before_submit', array( __CLASS__, 'consent_checkbox' ) );
		add_action( 'woocommerce_init', array( __CLASS__, 'block_consent_field' ) );
		add_action( 'wp_loaded', array( __CLASS__, 'arrival' ) );
		add_action( 'shutdown', array( __CLASS__, 'flush' ), 0 ); // before WooCommerce saves the session
	}

	// -- cart events ------------------------------------------------------------------------

	public static function cart_changed(): void {
		if ( ! self::$restoring && ! self::$converted ) {
			self::$pending = 'updated';
		}
	}

	public static function cart_emptied(): void {
		if ( ! self::$restoring && ! self::$converted && self::cart_id( false ) ) {
			self::$pending = 'deleted';
		}
	}

	/** One event per request, however many changes it made. */
	public static function flush(): void {
		if ( null === self::$pending || ! function_exists( 'WC' ) || ! WC()->cart || ! WC()->session ) {
			return;
		}
		$type          = WC()->cart->is_empty() ? 'cart.deleted' : 'cart.updated';
		self::$pending = null;
		if ( 'cart.deleted' === $type && ! self::cart_id( false ) ) {
			return; // never sent: nothing to delete
		}
		self::send( OCC_Payload::cart_event( $type, self::cart(), gmdate( 'c' ) ) );
		if ( 'cart.deleted' === $type ) {
			self::forget_cart();
		}
	}

	/** The basket as the contract describes it. */
	private static function cart(): array {
		$lines = array();
		foreach ( WC()->cart->get_cart() as $key => $item ) {
			$product  = $item['data'];
			$quantity = max( 1, (int) $item['quantity'] );
			$lines[]  = array(
				'id'         => $key,
				'sku'        => $product ? $product->get_sku() : '',
				'product_id' => $item['product_id'],
				'variant_id' => $item['variation_id'] ? $item['variation_id'] : $item['product_id'],
				'name'       => $product ? $product->get_name() : '',
				'quantity'   => $quantity,
				'price'      => ( (float) $item['line_total'] + (float) $item['line_tax'] ) / $quantity,
				'total'      => (float) $item['line_total'] + (float) $item['line_tax'],
			);
		}
		return array(
			'id'           => self::cart_id( true ),
			'customer'     => self::customer(),
			'currency'     => get_woocommerce_currency(),
			'total'        => WC()->cart->get_total( 'edit' ),
			'checkout_url' => self::checkout_url(),
			'created_at'   => gmdate( 'c', (int) WC()->session->get( self::SESSION_SINCE, time() ) ),
			'updated_at'   => gmdate( 'c' ),
			'lines'        => $lines,
		);
	}

	private static function customer(): array {
		$user     = wp_get_current_user();
		$customer = WC()->customer;
		$email    = $customer ? $customer->get_billing_email() : '';
		return array(
			'id'    => $user->ID ? (string) $user->ID : '',
			'email' => $email ? $email : ( $user->ID ? $user->user_email : '' ),
			'phone' => $customer ? $customer->get_billing_phone() : '',
		);
	}

	/** The cart's id in the connector, made on the first change of a basket. */
	private static function cart_id( bool $create ): string {
		$id = WC()->session ? (string) WC()->session->get( self::SESSION_CART, '' ) : '';
		if ( '' === $id && $create ) {
			$id = 'wc-' . str_replace( '-', '', wp_generate_uuid4() );
			WC()->session->set( self::SESSION_CART, $id );
			WC()->session->set( self::SESSION_SINCE, time() );
		}
		return $id;
	}

	private static function forget_cart(): void {
		WC()->session->set( self::SESSION_CART, null );
		WC()->session->set( self::SESSION_SINCE, null );
	}

	// -- the link that brings the shopper back ---------------------------------------------

	/** The checkout URL with a signed token of the basket (restored by `arrival`). */
	private static function checkout_url(): string {
		$items = array();
		foreach ( WC()->cart->get_cart() as $item ) {
			$items[] = array( (int) $item['product_id'], (int) $item['variation_id'], (int) $item['quantity'], (array) $item['variation'] );
		}
		$token = OCC_Signer::token(
			OCC_Settings::secret(),
			array( 'c' => self::cart_id( true ), 'i' => $items, 'exp' => time() + self::RESTORE_DAYS * DAY_IN_SECONDS )
		);
		return add_query_arg( self::RESTORE_ARG, rawurlencode( $token ), wc_get_checkout_url() );
	}

	/** A visitor arriving: from a cart link (restore the basket) or from a Mailchimp email. */
	public static function arrival(): void {
		if ( is_admin() || wp_doing_ajax() ) {
			return;
		}
		self::remember_campaign();
		$token = self::query_text( self::RESTORE_ARG );
		if ( '' === $token || ! function_exists( 'WC' ) || ! WC()->cart ) {
			return;
		}
		$data = OCC_Signer::read_token( OCC_Settings::secret(), $token, time() );
		if ( null !== $data ) {
			self::$restoring = true;
			WC()->cart->empty_cart();
			foreach ( (array) ( $data['i'] ?? array() ) as $item ) {
				list( $product_id, $variation_id, $quantity, $variation ) = array_pad( (array) $item, 4, array() );
				WC()->cart->add_to_cart( (int) $product_id, max( 1, (int) $quantity ), (int) $variation_id, (array) $variation );
			}
			WC()->session->set( self::SESSION_CART, (string) $data['c'] );
			self::$restoring = false;
		}
		wp_safe_redirect( remove_query_arg( self::RESTORE_ARG ) );
		exit;
	}

	// -- checkout: consent and campaign -----------------------------------------------------

	public static function consent_checkbox(): void {
		woocommerce_form_field(
			self::CONSENT_FIELD,
			array(
				'type'  => 'checkbox',
				'class' => array( 'form-row-wide' ),
				'label' => esc_html( OCC_Settings::consent_label() ),
			),
			0
		);
	}

	/** The same checkbox on the block checkout (WooCommerce 8.9+: additional checkout fields). */
	public static function block_consent_field(): void {
		if ( function_exists( 'woocommerce_register_additional_checkout_field' ) ) {
			woocommerce_register_additional_checkout_field(
				array(
					'id'       => self::BLOCK_FIELD,
					'label'    => OCC_Settings::consent_label(),
					'location' => 'order',
					'type'     => 'checkbox',
				)
			);
		}
	}

	/** The classic checkout placed an order: the cart is converted, consent and campaign kept. */
	public static function order_placed( $order_id, $posted = array(), $order = null ): void {
		$order = $order instanceof WC_Order ? $order : wc_get_order( $order_id );
		if ( ! $order ) {
			return;
		}
		// WooCommerce checked the checkout nonce before this hook runs.
		$consent = ! empty( $_POST[ self::CONSENT_FIELD ] ); // phpcs:ignore WordPress.Security.NonceVerification
		self::placed( $order, $consent );
	}

	/** The block checkout (Store API) placed an order. */
	public static function block_order_placed( $order ): void {
		if ( $order instanceof WC_Order ) {
			self::placed( $order, (bool) $order->get_meta( '_wc_other/' . self::BLOCK_FIELD ) );
		}
	}

	private static function placed( WC_Order $order, bool $consent ): void {
		$campaign = self::cookie( self::COOKIE_CAMPAIGN );
		$landing  = self::cookie( self::COOKIE_LANDING );
		if ( '' !== $campaign ) { // the official plugin's keys, and the ones the connector reads
			$order->update_meta_data( '_mailchimp_campaign_id', $campaign );
			$order->update_meta_data( 'mailchimp_woocommerce_campaign_id', $campaign );
		}
		if ( '' !== $landing ) {
			$order->update_meta_data( '_mailchimp_landing_site', $landing );
			$order->update_meta_data( 'mailchimp_woocommerce_landing_site', $landing );
		}
		$order->update_meta_data( '_' . self::CONSENT_FIELD, $consent ? 'yes' : 'no' );
		$order->save();

		$now = gmdate( 'c' );
		if ( WC()->cart && ! WC()->cart->is_empty() && self::cart_id( false ) ) {
			self::send( OCC_Payload::cart_event( 'cart.converted', self::cart(), $now ) );
		}
		$email = $order->get_billing_email();
		if ( $email ) {
			$customer = array(
				'id'         => $order->get_customer_id() ? (string) $order->get_customer_id() : 'guest-' . substr( hash( 'sha256', strtolower( $email ) ), 0, 20 ),
				'email'      => $email,
				'phone'      => $order->get_billing_phone(),
				'first_name' => $order->get_billing_first_name(),
				'last_name'  => $order->get_billing_last_name(),
			);
			self::send( OCC_Payload::consent_event( $customer, $consent, $now ) );
		}
		self::$converted = true;
		self::$pending   = null;
		if ( WC()->session ) {
			self::forget_cart();
		}
	}

	/** `mc_cid` / `mc_landing` of a Mailchimp email's link, kept in cookies until an order. */
	private static function remember_campaign(): void {
		$campaign = self::query_text( 'mc_cid' );
		if ( '' === $campaign ) {
			return;
		}
		$campaign = substr( (string) preg_replace( '/[^A-Za-z0-9_-]/', '', $campaign ), 0, 50 );
		$landing  = self::query_text( 'mc_landing' );
		if ( '' === $landing ) { // the page the email's link opened
			$host    = isset( $_SERVER['HTTP_HOST'] ) ? (string) wp_unslash( $_SERVER['HTTP_HOST'] ) : '';
			$path    = isset( $_SERVER['REQUEST_URI'] ) ? (string) wp_unslash( $_SERVER['REQUEST_URI'] ) : '/';
			$landing = ( is_ssl() ? 'https://' : 'http://' ) . $host . $path;
		}
		$landing = substr( esc_url_raw( $landing ), 0, 1000 );
		$expires = time() + self::RESTORE_DAYS * DAY_IN_SECONDS;
		foreach ( array( self::COOKIE_CAMPAIGN => $campaign, self::COOKIE_LANDING => $landing ) as $name => $value ) {
			setcookie( $name, $value, $expires, COOKIEPATH ? COOKIEPATH : '/', COOKIE_DOMAIN, is_ssl(), true );
			$_COOKIE[ $name ] = $value;
		}
	}

	/** A query argument as text ('' when absent or not a single value). */
	private static function query_text( string $name ): string {
		return isset( $_GET[ $name ] ) && is_string( $_GET[ $name ] ) ? trim( wp_unslash( $_GET[ $name ] ) ) : '';
	}

	private static function cookie( string $name ): string {
		return isset( $_COOKIE[ $name ] ) ? sanitize_text_field( wp_unslash( $_COOKIE[ $name ] ) ) : '';
	}

	// -- sending ----------------------------------------------------------------------------

	/** POSTs a signed event to the connector without waiting for the answer. */
	private static function send( string $body ): void {
		$url    = OCC_Settings::url();
		$secret = OCC_Settings::secret();
		if ( '' === $url || '' === $secret ) {
			return;
		}
		$id = 'msg_' . str_replace( '-', '', wp_generate_uuid4() );
		wp_remote_post(
			$url . '/webhooks/shop',
			array(
				'headers'  => OCC_Signer::headers( $secret, $id, time(), $body ),
				'body'     => $body,
				'blocking' => false,
				'timeout'  => 3,
			)
		);
	}
}
