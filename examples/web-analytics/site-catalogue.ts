/**
 * The paths of the example shop's web site, most popular first.
 *
 *   siteCatalogue()[0]; // '/'
 *   siteCatalogue().length; // 3000
 *
 * Fixed (its own seed), so every generated dataset describes the same site.
 */
import { sfc32 } from './seeded-random.ts';

export function siteCatalogue(size = 3000): string[] {
  const rand = sfc32(0x5eed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const words = [
    'data',
    'fast',
    'guide',
    'how',
    'to',
    'build',
    'scale',
    'query',
    'stream',
    'batch',
    'view',
    'time',
    'series',
    'best',
    'tips',
    'new',
    'release',
    'notes',
    'deep',
    'dive',
    'cost',
    'cloud',
    'local',
    'first',
    'why',
    'we',
    'moved',
    'from',
    'lessons',
    'learned',
    'faster',
    'joins',
    'index',
    'cache',
    'design',
    'api',
  ];
  const sections = [
    'getting-started',
    'concepts',
    'reference',
    'operations',
    'tutorials',
    'integrations',
  ];
  const categories = ['shoes', 'jackets', 'bags', 'hats', 'shirts', 'socks', 'watches', 'gloves'];
  const paths = new Set([
    '/',
    '/pricing',
    '/products',
    '/blog',
    '/docs',
    '/signup',
    '/login',
    '/about',
    '/cart',
    '/checkout',
    '/contact',
    '/careers',
  ]);
  while (paths.size < size) {
    const kind = rand();
    if (kind < 0.35)
      paths.add(`/products/${pick(categories)}/${Math.floor(rand() * 90_000) + 10_000}`);
    else if (kind < 0.65)
      paths.add(
        `/blog/${Array.from({ length: 3 + Math.floor(rand() * 3) }, () => pick(words)).join('-')}`,
      );
    else if (kind < 0.9) paths.add(`/docs/${pick(sections)}/${pick(words)}-${pick(words)}`);
    else paths.add(`/help/${pick(words)}-${Math.floor(rand() * 500)}`);
  }
  const list = [...paths];
  // Keep the site's hub pages on top; shuffle the rest so popularity is not by section.
  for (let i = list.length - 1; i > 12; i--) {
    const j = 12 + Math.floor(rand() * (i - 11));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}
