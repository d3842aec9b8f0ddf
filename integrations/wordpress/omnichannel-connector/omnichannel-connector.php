<?php
/**
 * Plugin Name:       Omnichannel Connector for WooCommerce
 * Description:       Sends WooCommerce carts to the omnichannel connector (signed, Standard Webhooks) for abandoned-cart emails, with a link that restores the cart, the shopper's marketing consent and the Mailchimp campaign of each order.
 * Version:           1.0.0
 * Requires at least: 6.0
 * Requires PHP:      7.4
 * Author:            Omnichannel connector
 * License:           GPL-2.0-or-later
 * Text Domain:       omnichannel-connector
 * WC requires at least: 7.0
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

require_once __DIR__ . '/includes/class-signer.php';
require_once __DIR__ . '/includes/class-payload.php';
require_once __DIR__ . '/includes/class-settings.php';
require_once __DIR__ . '/includes/class-plugin.php';

OCC_Settings::boot();
add_action(
	'plugins_loaded',
	static function () {
		if ( class_exists( 'WooCommerce' ) ) {
			OCC_Plugin::boot();
		}
	}
);

// Orders in WooCommerce's own tables (HPOS): the plugin writes order meta through WC_Order only.
add_action(
	'before_woocommerce_init',
	static function () {
		if ( class_exists( '\Automattic\WooCommerce\Utilities\FeaturesUtil' ) ) {
			\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'custom_order_tables', __FILE__, true );
		}
	}
);
