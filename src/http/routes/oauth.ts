import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../core/context.js';
import { completeOAuth, revokeSellerProvider, adminSeller } from '../../core/sellers.js';
import { PROVIDER_IDS, type ProviderId } from '../../db/schema.js';
import { requireAdmin } from '../app.js';

const ID = { type: 'string', minLength: 3, maxLength: 64, pattern: '^[a-z]{3}_[a-z0-9]+$' } as const;
const short = (max: number) => ({ type: 'string', maxLength: max }) as const;

/**
 * Seller connection through a provider's OAuth (Square). The callback is public (the seller's browser comes back
 * from the provider's authorize page); only a live, unused `state` Settle issued names the seller. The seller is
 * sent on to their onboarding-return page, with the refusal's code and reason when the connection failed.
 */
export async function oauthRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  // Only where some configured provider connects sellers through OAuth (Square).
  if (!ctx.providers.all().some((p) => p.oauth !== undefined)) return;
  app.get<{
    Params: { provider: ProviderId };
    Querystring: { code?: string; state?: string; error?: string; error_description?: string };
  }>(
    '/oauth/:provider/callback',
    {
      schema: {
        params: {
          type: 'object',
          required: ['provider'],
          properties: { provider: { type: 'string', enum: PROVIDER_IDS } },
        },
        querystring: {
          type: 'object',
          properties: {
            code: short(512),
            state: short(200),
            error: short(200),
            error_description: short(500),
            // Square also sends these back; they carry nothing Settle uses.
            response_type: short(50),
          },
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const r = await completeOAuth(ctx, req.params.provider, {
        code: q.code,
        state: q.state,
        error: q.error,
        errorDescription: q.error_description,
      });
      const back = new URL(`${ctx.config.publicUrl}/sellers/${r.sellerId}/onboarding-return`);
      back.searchParams.set('provider', req.params.provider);
      if (r.outcome === 'denied') back.searchParams.set('error', 'access_denied');
      if (r.outcome === 'failed') {
        back.searchParams.set('error', r.error.code);
        back.searchParams.set('message', r.error.message);
      }
      return reply.redirect(back.toString(), 303);
    },
  );

  await app.register(async (admin) => {
    admin.addHook('onRequest', requireAdmin(ctx.config.adminToken));
    // Operator action: withdraw the platform's access to the seller's account at the provider.
    admin.post<{ Params: { id: string; provider: ProviderId } }>(
      '/api/admin/sellers/:id/providers/:provider/revoke',
      {
        schema: {
          params: {
            type: 'object',
            required: ['id', 'provider'],
            properties: { id: ID, provider: { type: 'string', enum: PROVIDER_IDS } },
          },
        },
      },
      async (req) => adminSeller(await revokeSellerProvider(ctx, req.params.id, req.params.provider)),
    );
  });
}
