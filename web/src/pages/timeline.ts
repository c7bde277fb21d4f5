// Pages: timeline. (registers its routes with route())
export {};
