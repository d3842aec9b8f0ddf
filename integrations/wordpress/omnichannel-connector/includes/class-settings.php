<?php
/**
 * Settings → Omnichannel connector: the connector's URL and the shared secret (the connector's
 * CONNECTOR_SHOP_WEBHOOK_SECRET), and the consent checkbox's label.
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

final class OCC_Settings {

	const GROUP = 'occ_settings';

	public static function boot(): void {
		add_action( 'admin_init', array( __CLASS__, 'register' ) );
		add_action( 'admin_menu', array( __CLASS__, 'menu' ) );
	}

	public static function url(): string {
		return rtrim( (string) get_option( 'occ_connector_url', '' ), '/' );
	}

	public static function secret(): string {
		return (string) get_option( 'occ_secret', '' );
	}

	public static function consent_label(): string {
		$label = (string) get_option( 'occ_consent_label', '' );
		return '' !== $label ? $label : __( 'Send me news and offers by email', 'omnichannel-connector' );
	}

	public static function register(): void {
		register_setting( self::GROUP, 'occ_connector_url', array( 'sanitize_callback' => 'esc_url_raw' ) );
		register_setting( self::GROUP, 'occ_secret', array( 'sanitize_callback' => array( __CLASS__, 'keep_secret' ) ) );
		register_setting( self::GROUP, 'occ_consent_label', array( 'sanitize_callback' => 'sanitize_text_field' ) );
	}

	/** An empty secret field keeps the saved secret (the page never shows it). */
	public static function keep_secret( $value ): string {
		$value = trim( (string) $value );
		return '' === $value ? self::secret() : $value;
	}

	public static function menu(): void {
		add_options_page(
			__( 'Omnichannel connector', 'omnichannel-connector' ),
			__( 'Omnichannel connector', 'omnichannel-connector' ),
			'manage_options',
			'omnichannel-connector',
			array( __CLASS__, 'page' )
		);
	}

	public static function page(): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		$saved = '' !== self::secret();
		?>
		<div class="wrap">
			<h1><?php esc_html_e( 'Omnichannel connector', 'omnichannel-connector' ); ?></h1>
			<form method="post" action="options.php">
				<?php settings_fields( self::GROUP ); ?>
				<table class="form-table" role="presentation">
					<tr>
						<th scope="row"><label for="occ_connector_url"><?php esc_html_e( 'Connector URL', 'omnichannel-connector' ); ?></label></th>
						<td><input type="url" class="regular-text" id="occ_connector_url" name="occ_connector_url" value="<?php echo esc_attr( self::url() ); ?>" placeholder="https://connector.example.com" /></td>
					</tr>
					<tr>
						<th scope="row"><label for="occ_secret"><?php esc_html_e( 'Secret', 'omnichannel-connector' ); ?></label></th>
						<td>
							<input type="password" class="regular-text" id="occ_secret" name="occ_secret" value="" autocomplete="off" placeholder="<?php echo $saved ? esc_attr__( '(saved; type to replace)', 'omnichannel-connector' ) : 'whsec_...'; ?>" />
							<p class="description"><?php esc_html_e( "The connector's CONNECTOR_SHOP_WEBHOOK_SECRET.", 'omnichannel-connector' ); ?></p>
						</td>
					</tr>
					<tr>
						<th scope="row"><label for="occ_consent_label"><?php esc_html_e( 'Consent checkbox text', 'omnichannel-connector' ); ?></label></th>
						<td><input type="text" class="regular-text" id="occ_consent_label" name="occ_consent_label" value="<?php echo esc_attr( self::consent_label() ); ?>" /></td>
					</tr>
				</table>
				<?php submit_button(); ?>
			</form>
		</div>
		<?php
	}
}
