// The demo's templates: the seed's reservation, and two more that show what plurals, currencies
// and dates do across languages. Stored at startup when the demo is on (HERALD_DEMO), through the
// same checks as PUT /templates, and only where the key is new: an edited demo template stays edited.
import type { TemplateStore } from '../store/templates'
import type { TemplateService } from './routes/templates'

export const DEMO_TEMPLATES: Record<string, { description: string; messages: Record<string, string> }> = {
  'reservation.confirmed': {
    description: "The seed's reservation, with the seats and the time: a plural and a date in the reader's zone",
    messages: {
      en: '{seats, plural, one {# seat} other {# seats}} reserved for {at, date, medium}, {at, time, short}',
      ko: '{at, date, medium} {at, time, short}에 {seats}석이 예약되었습니다',
      ja: '{at, date, medium} {at, time, short}に{seats}席を予約しました',
      ru: '{seats, plural, one {Забронировано # место} few {Забронировано # места} many {Забронировано # мест} other {Забронировано # места}} на {at, date, medium}, {at, time, short}',
      ar: '{seats, plural, zero {لم يُحجز أي مقعد} one {تم حجز مقعد واحد} two {تم حجز مقعدين} few {تم حجز # مقاعد} many {تم حجز # مقعدًا} other {تم حجز # مقعد}} ليوم {at, date, medium} الساعة {at, time, short}',
    },
  },
  'comment.added': {
    description: 'Someone and N others commented: a name and a plural with an exact =0',
    messages: {
      en: '{count, plural, =0 {{actor} commented} one {{actor} and # other commented} other {{actor} and # others commented}}',
      ko: '{count, plural, =0 {{actor}님이 댓글을 남겼습니다} other {{actor}님 외 #명이 댓글을 남겼습니다}}',
      ja: '{count, plural, =0 {{actor}さんがコメントしました} other {{actor}さんほか#人がコメントしました}}',
      ru: '{count, plural, =0 {{actor} оставил(а) комментарий} one {{actor} и ещё # человек прокомментировали} few {{actor} и ещё # человека прокомментировали} many {{actor} и ещё # человек прокомментировали} other {{actor} и ещё # человека прокомментировали}}',
      ar: '{count, plural, =0 {علّق {actor}} one {علّق {actor} وشخص آخر} two {علّق {actor} وشخصان آخران} few {علّق {actor} و# أشخاص آخرين} many {علّق {actor} و# شخصًا آخر} other {علّق {actor} و# شخص آخر}}',
    },
  },
  'order.shipped': {
    description: 'Items, a total in euros and a delivery day: numbers and currencies by locale',
    messages: {
      en: 'Your order of {items, plural, one {# item} other {# items}} ({total, number, ::currency/EUR}) arrives {eta, date, full}',
      ko: '{items}개 상품({total, number, ::currency/EUR}) 주문이 {eta, date, full}에 도착합니다',
      ja: '{items}点のご注文（{total, number, ::currency/EUR}）は{eta, date, full}に届きます',
      ru: 'Ваш заказ из {items, plural, one {# товара} few {# товаров} many {# товаров} other {# товара}} ({total, number, ::currency/EUR}) прибудет {eta, date, full}',
      ar: 'يصل طلبك المكوّن من {items, plural, zero {لا عناصر} one {عنصر واحد} two {عنصرين} few {# عناصر} many {# عنصرًا} other {# عنصر}} ({total, number, ::currency/EUR}) يوم {eta, date, full}',
    },
  },
}

export async function seedDemoTemplates(store: Pick<TemplateStore, 'load'>, service: TemplateService): Promise<void> {
  const present = new Set((await store.load(Object.keys(DEMO_TEMPLATES))).map((template) => template.key))
  for (const [key, { description, messages }] of Object.entries(DEMO_TEMPLATES))
    if (!present.has(key)) await service.save(key, { messages, description })
}
